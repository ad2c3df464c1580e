#!/usr/bin/env python3
# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""What backup_io_priority leaves to a competing reader of the same disk.

A "guest" process reads a file of its own with O_DIRECT (past the page
cache, so every read reaches the disk) in 1 MiB blocks, as fast as it can,
and reports its throughput.  Meanwhile a "backup" reads a volume file the
way the engine does: 8 MiB at a time, on a native thread, with
io_priority.lowered(priority) around each read, after dropping the file's
pages from the page cache (posix_fadvise DONTNEED, so its reads reach the
disk too).  This measures the effect of the priority on the disk, not the
whole backup pipeline: hashing, compression and the store are left out so
that the disk is the one thing both compete for.

    python tools/bench_ioprio.py [--dir DIR] [--size-mib N] [--seconds S]

Phases: the guest alone; guest and backup at none; at best-effort; at idle.
Prints the guest's and the backup's MiB/s in each and the disk's I/O
scheduler: only schedulers that honour priorities (bfq; mq-deadline since
Linux 5.14, partly) can make a difference, and a virtual disk whose host
caches reads may hide it.  Run it on an otherwise quiet machine; it writes
two files of --size-mib each in --dir.
"""

import argparse
import mmap
import multiprocessing
import os
import sys
import tempfile
import threading
import time

from cinder_backup_ext.volume import io_priority

_BLOCK = 1 << 20
_CHUNK = 8 << 20


def _make_file(path, size):
    block = os.urandom(_BLOCK)
    with open(path, 'wb') as f:
        for _ in range(size // _BLOCK):
            f.write(block)
        f.flush()
        os.fsync(f.fileno())


def _drop_cache(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _guest(path, seconds, result):
    """Read path with O_DIRECT in a loop for seconds; MiB/s in result."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    # O_DIRECT needs an aligned buffer: an anonymous mapping is.
    buffer = mmap.mmap(-1, _BLOCK)
    done = 0
    start = time.monotonic()
    try:
        while time.monotonic() - start < seconds:
            got = os.preadv(fd, [buffer], done % os.fstat(fd).st_size)
            if got <= 0:
                break
            done += got
    finally:
        os.close(fd)
    result.value = done / (time.monotonic() - start) / _BLOCK


def _backup(path, priority, stop, result):
    """Read path in chunks at priority until stop or its end, again from
    the start while the guest runs; MiB/s in result."""
    done = 0
    start = time.monotonic()
    with open(path, 'rb', buffering=0) as f:
        buffer = bytearray(_CHUNK)
        while not stop.is_set():
            with io_priority.lowered(priority):
                got = f.readinto(buffer)
            if not got:
                _drop_cache(path)
                f.seek(0)
                continue
            done += got
    result.append(done / (time.monotonic() - start) / _BLOCK)


def _scheduler(path):
    device = os.stat(path).st_dev
    name = '/sys/dev/block/%d:%d' % (os.major(device), os.minor(device))
    for candidate in (name + '/queue/scheduler',
                      name + '/../queue/scheduler'):
        try:
            with open(candidate) as f:
                return f.read().strip()
        except OSError:
            continue
    return 'unknown'


def _phase(guest_file, volume_file, seconds, priority):
    guest_rate = multiprocessing.Value('d', 0.0)
    backup_rate = []
    stop = threading.Event()
    reader = None
    if priority != 'alone':
        _drop_cache(volume_file)
        reader = threading.Thread(
            target=_backup, args=(volume_file,
                                  io_priority.priority_for(priority), stop,
                                  backup_rate))
        reader.start()
    guest = multiprocessing.Process(
        target=_guest, args=(guest_file, seconds, guest_rate))
    guest.start()
    guest.join()
    stop.set()
    if reader is not None:
        reader.join()
    return guest_rate.value, (backup_rate[0] if backup_rate else None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--dir', default=None)
    parser.add_argument('--size-mib', type=int, default=256)
    parser.add_argument('--seconds', type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as work:
        guest_file = os.path.join(work, 'guest.img')
        volume_file = os.path.join(work, 'volume.img')
        _make_file(guest_file, args.size_mib << 20)
        _make_file(volume_file, args.size_mib << 20)
        print('disk scheduler: %s; %d cores; %d MiB files, %.0f s a phase'
              % (_scheduler(volume_file), os.cpu_count(), args.size_mib,
                 args.seconds))
        print('%-12s %14s %15s' % ('backup', 'guest MiB/s', 'backup MiB/s'))
        for priority in ('alone', io_priority.NONE,
                         io_priority.BEST_EFFORT, io_priority.IDLE):
            guest, backup = _phase(guest_file, volume_file, args.seconds,
                                   priority)
            print('%-12s %14.1f %15s' % (
                'no backup' if priority == 'alone' else priority, guest,
                '-' if backup is None else '%.1f' % backup))
    return 0


if __name__ == '__main__':
    sys.exit(main())
