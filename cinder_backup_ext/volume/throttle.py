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

"""How hard one operation may press on its volume: rate limits of the
bytes it reads or writes, and the I/O priority of a backup's reads.

Owns the two rate options, the token buckets, and the VolumeFile that
charges them.  Knows nothing of backups beyond "a backup reads, a restore
writes"; the system calls of I/O priority are io_priority's.

Only bytes that really move are charged: what read_into, read_chunk and
read_at read and what write_at writes.  Chunks a backup never reads (ranges
a thin volume never allocated) never reach those methods, the holes of a
regular file that read_chunk skips are not counted, and zero_range is not
charged, even where it has to write zeros: a limit is meant for the data,
and zero extents are recorded, not copied.

Bytes move on the operation's own thread (read_into, write_at: green
under eventlet) and on native workers (read_chunk, read_at and the writes
of worker_writer, several at once; write_at's own calls to the workers are
made and waited for by the operation's thread, which is where it is
charged), so a bucket's lock is a native one, held only for its
arithmetic, never while waiting.
"""

import time

from oslo_config import cfg

from cinder_backup_ext.runtime import concurrency
from cinder_backup_ext.volume import io_priority
from cinder_backup_ext.volume import volume_io

throttle_opts = [
    cfg.IntOpt('backup_read_bytes_per_second',
               default=0,
               min=0,
               help='Most bytes per second that one operation moves to or '
                    'from its volume: the bytes a backup reads from the '
                    'volume, and the bytes a restore writes to it. 0 means '
                    'no limit. Each backup and each restore has a limit of '
                    'its own; see backup_host_bytes_per_second for one '
                    'shared by all of them. Holes and zeros cost nothing: '
                    'ranges a thin volume never allocated are not read, '
                    'and zero ranges a restore clears are not counted. '
                    'Bursts of up to one second of the rate are let '
                    'through at once. Restores of backups written by '
                    'Cinder\'s own posix or nfs driver are not limited.'),
    cfg.IntOpt('backup_host_bytes_per_second',
               default=0,
               min=0,
               help='Most bytes per second that all backups and restores '
                    'of this cinder-backup process together move to or '
                    'from their volumes, counted as '
                    'backup_read_bytes_per_second counts them; 0 means no '
                    'limit. Operations share it first come, first served, '
                    'and each one is also held to '
                    'backup_read_bytes_per_second. Every cinder-backup '
                    'process (every host, every worker process) has a '
                    'budget of its own.'),
]

CONF = cfg.CONF
CONF.register_opts(throttle_opts)
CONF.import_opt('backup_io_priority', 'cinder_backup_ext.volume.io_priority')


class TokenBucket(object):
    """A rate of bytes per second, with a burst of one second of it.

    take(count) charges count bytes and says how long the caller must wait
    for them.  The bucket goes into debt rather than refuse a charge larger
    than its burst (an object bigger than a second of the rate): the caller
    waits that debt off, and whoever charges next waits behind it, so the
    rate holds over any stretch of time, however many share the bucket.
    """

    def __init__(self, rate, burst=None, clock=time.monotonic):
        if rate <= 0:
            raise ValueError('a bucket needs a rate above 0')
        self.rate = rate
        self.burst = burst or rate
        self._clock = clock
        self._lock = concurrency.native_lock()
        self._tokens = self.burst
        self._stamp = clock()

    def take(self, count):
        """Charge count bytes; the seconds to wait before using them."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens +
                               (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= count
            tokens = self._tokens
        return -tokens / self.rate if tokens < 0 else 0.0


def charge(buckets, count):
    """Charge count bytes to every bucket and wait as long as the slowest
    of them asks."""
    if not count:
        return
    wait = max([bucket.take(count) for bucket in buckets] or [0.0])
    if wait > 0:
        _wait(wait)


def _wait(seconds):
    # A name of its own so that tests can count the time waited.
    concurrency.sleep(seconds)


# The bucket of this process, made from backup_host_bytes_per_second at
# first use and again when the option changes (a reload of the
# configuration).
_host_bucket = None
_host_lock = concurrency.native_lock()


def host_bucket():
    """The bucket every operation of this process shares, or None."""
    global _host_bucket
    rate = CONF.backup_host_bytes_per_second
    with _host_lock:
        if not rate:
            _host_bucket = None
        elif _host_bucket is None or _host_bucket.rate != rate:
            _host_bucket = TokenBucket(rate)
        return _host_bucket


def _buckets():
    found = []
    if CONF.backup_read_bytes_per_second:
        found.append(TokenBucket(CONF.backup_read_bytes_per_second))
    shared = host_bucket()
    if shared is not None:
        found.append(shared)
    return found


def for_backup(volume_file, workers):
    """The volume file a backup reads: limited and at the configured I/O
    priority when options say so, a plain VolumeFile otherwise."""
    priority = io_priority.priority_for(CONF.backup_io_priority)
    if priority is not None and not io_priority.usable(priority):
        priority = None
    buckets = _buckets()
    if not buckets and priority is None:
        return volume_io.VolumeFile(volume_file, workers)
    return LimitedVolume(volume_file, workers, buckets, priority)


def for_restore(volume_file, workers):
    """The volume file a restore writes: limited when options say so.
    Its I/O priority is left alone: writes are buffered, and the kernel
    writes them back on threads of its own."""
    buckets = _buckets()
    if not buckets:
        return volume_io.VolumeFile(volume_file, workers)
    return LimitedVolume(volume_file, workers, buckets, None)


class LimitedVolume(volume_io.VolumeFile):
    """A VolumeFile that charges the bytes it moves to buckets, and reads
    at an I/O priority (an io_priority value, or None to leave it).

    A subclass rather than a wrapper: the jobs wrap whatever is not a
    VolumeFile into one, and the VolumeFile's own state (what the volume
    file turned out to support) must stay in one object.
    """

    def __init__(self, volume_file, workers, buckets, priority):
        super().__init__(volume_file, workers)
        self._buckets = tuple(buckets)
        self._priority = priority
        self._zeroing = False
        # Per native worker: whether it is inside read_chunk.
        self._in_chunk = concurrency.native_local()
        if priority is not None:
            self.file = _ReadsAtPriority(self.file, priority)

    def read_into(self, buffer):
        data = super().read_into(buffer)
        charge(self._buckets, len(data))
        return data

    def read_chunk(self, offset, length, buffer):
        # On a native worker: the priority is this thread's for this read.
        # Holes the chunk has are not read, and not charged.
        self._in_chunk.active = True
        try:
            with io_priority.lowered(self._priority):
                data, unread = super().read_chunk(offset, length, buffer)
        finally:
            self._in_chunk.active = False
        charge(self._buckets, len(data) - unread)
        return data, unread

    def read_at(self, offset, length):
        if getattr(self._in_chunk, 'active', False):
            # An image's chunk, read for read_chunk: charged there.
            return super().read_at(offset, length)
        with io_priority.lowered(self._priority):
            data = super().read_at(offset, length)
        charge(self._buckets, len(data))
        return data

    def write_at(self, offset, data):
        if not self._zeroing:
            charge(self._buckets, len(data))
        super().write_at(offset, data)

    def worker_writer(self):
        write = super().worker_writer()
        if write is None:
            return None
        buckets = self._buckets

        def charged(offset, data):
            # On the native worker that writes: it waits there.
            charge(buckets, len(data))
            write(offset, data)
        return charged

    def zero_range(self, offset, length):
        # Where a range cannot be zeroed by the volume, VolumeFile writes
        # zeros through write_at: those are not data, and cost nothing.
        self._zeroing = True
        try:
            super().zero_range(offset, length)
        finally:
            self._zeroing = False


class _ReadsAtPriority(object):
    """The volume file, with its reads made at an I/O priority on the
    thread that performs them; everything else is the file's own.

    A tpool.Proxy performs each call on one of tpool's threads, which the
    whole process shares: the read is sent there as the proxy would send
    it, with the priority set around it on that thread.  Any other file is
    read on the calling thread, with the priority set around it there.
    """

    def __init__(self, volume_file, priority):
        self._file = volume_file
        self._priority = priority

    def readinto(self, buffer):
        return self._read('readinto', buffer)

    def read(self, size=-1):
        return self._read('read', size)

    def _read(self, name, argument):
        tpool = _tpool_of(self._file)
        if tpool is not None:
            method = getattr(self._file._obj, name)
            return tpool.execute(io_priority.call_lowered, self._priority,
                                 method, argument)
        return io_priority.call_lowered(self._priority,
                                        getattr(self._file, name), argument)

    def __getattr__(self, name):
        return getattr(self._file, name)


def _tpool_of(volume_file):
    """eventlet's tpool when volume_file is one of its proxies."""
    try:
        from eventlet import tpool
    except ImportError:
        return None
    return tpool if isinstance(volume_file, tpool.Proxy) else None
