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

"""What this machine can do at most, measured in the benchmark's own run.

Owns three measurements that bound the phases of a backup: reading the
volume file, writing a file and making it durable (write and fsync, as
``dd conv=fsync`` does), and zstd compression on every core.  A
benchmark's figures mean little without them: the same driver is fast or
slow depending on the disk and the cores it runs on.  Knows nothing of
drivers.
"""

import os
import time

PIECE = 8 * 1024 * 1024


def _native_threading():
    try:
        from eventlet import patcher
        return patcher.original('threading')
    except ImportError:
        import threading
        return threading


def read_rate(path, limit=None):
    """MiB/s of reading path (its first limit bytes) in 8 MiB pieces, as
    a backup reads a volume file."""
    buffer = bytearray(PIECE)
    total = 0
    started = time.monotonic()
    with open(path, 'rb', buffering=0) as f:
        while limit is None or total < limit:
            got = f.readinto(buffer)
            if not got:
                break
            total += got
    return total / (1024 * 1024) / max(time.monotonic() - started, 1e-6)


def write_fsync_rate(directory, size, sample):
    """MiB/s of writing size bytes to a new file in directory, 8 MiB at a
    time from sample (bytes, not zeros: a file system may treat zeros
    specially), then fsyncing it: what the disk sustains when every
    byte must be durable.  The file is removed."""
    if not sample:
        raise ValueError('no sample bytes to write')
    path = os.path.join(directory, 'write-fsync-rate.tmp')
    piece = memoryview(sample)[:PIECE]
    os.sync()
    started = time.monotonic()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        written = 0
        while written < size:
            written += os.write(fd, piece[:min(len(piece), size - written)])
        os.fsync(fd)
    finally:
        os.close(fd)
    seconds = time.monotonic() - started
    os.unlink(path)
    return size / (1024 * 1024) / max(seconds, 1e-6)


def zstd_rate(path, limit, threads=None, level=3):
    """MiB/s of zstd at level on every core (one compressor per thread,
    8 MiB pieces of path's first limit bytes, as the workers compress
    objects)."""
    import zstandard
    threads = threads or os.cpu_count() or 1
    pieces = []
    with open(path, 'rb') as f:
        while sum(len(p) for p in pieces) < limit:
            piece = f.read(PIECE)
            if not piece:
                break
            pieces.append(piece)
    threading = _native_threading()
    lock = threading.Lock()
    todo = list(pieces)

    def work():
        compressor = zstandard.ZstdCompressor(level=level)
        while True:
            with lock:
                if not todo:
                    return
                piece = todo.pop()
            compressor.compress(piece)
    workers = [threading.Thread(target=work) for _ in range(threads)]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    seconds = time.monotonic() - started
    return (sum(len(p) for p in pieces) / (1024 * 1024) /
            max(seconds, 1e-6))
