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

"""Thin file volumes: holes are never read, and a restore punches them.

Volumes here are sparse files on the test's file system, made with
truncate and holes punched with fallocate.  What the driver reads of them
is counted at the system calls it must use for a regular file (os.preadv
at an offset); the file object itself counts any read through it, which
should be none.  Every restore is compared byte for byte.
"""

import errno
import json
import os
import threading

from cinder import utils as cinder_utils
import fixtures
from oslo_utils import units

from cinder_backup_ext.devtools import volumes
from cinder_backup_ext.engine import block_check
from cinder_backup_ext.runtime import concurrency
from cinder_backup_ext.volume import disk
from tests.unit import driver_base as base
from tests.unit import loop_device
from tests.unit import thread_rules

KiB = units.Ki
MiB = units.Mi
CHUNK = base.OBJECT_SIZE          # 64 KiB: one object, one chunk
BLOCK = base.BLOCK_SIZE           # 4 KiB: the file system's block too


class CountingFile(object):
    """A volume file that counts the bytes read through it.  It has a
    fileno(), as the files cinder-backup passes for file-backed volumes
    do."""

    def __init__(self, f):
        self._f = f
        self.bytes_read = 0

    def read(self, size=-1):
        data = self._f.read(size)
        self.bytes_read += len(data)
        return data

    def readinto(self, buffer):
        count = self._f.readinto(buffer)
        self.bytes_read += count or 0
        return count

    def __getattr__(self, name):
        return getattr(self._f, name)


class SyscallLog(fixtures.Fixture):
    """Records os.preadv and os.lseek(SEEK_DATA/SEEK_HOLE) calls on the
    volume's descriptors, and whether each ran on the hub's thread."""

    def _setUp(self):
        self.preads = []            # (fd, offset, bytes read)
        self.seeks = []             # (fd, offset, whence)
        self.on_hub = []
        self.fds = set()
        real_preadv = os.preadv
        real_lseek = os.lseek

        def preadv(fd, buffers, offset, *args):
            count = real_preadv(fd, buffers, offset, *args)
            if fd in self.fds:
                self.preads.append((fd, offset, count))
                if thread_rules.on_hub_thread():
                    self.on_hub.append(('preadv', offset))
            return count

        def lseek(fd, offset, whence):
            if fd in self.fds and whence in (os.SEEK_DATA, os.SEEK_HOLE):
                self.seeks.append((fd, offset, whence))
                if thread_rules.on_hub_thread():
                    self.on_hub.append(('lseek', offset))
            return real_lseek(fd, offset, whence)
        self.useFixture(fixtures.MonkeyPatch('os.preadv', preadv))
        self.useFixture(fixtures.MonkeyPatch('os.lseek', lseek))

    @property
    def bytes_read(self):
        return sum(count for _fd, _offset, count in self.preads)


def punch(path, offset, length):
    fd = os.open(path, os.O_RDWR)
    try:
        disk.punch_hole(fd, offset, length)
    finally:
        os.close(fd)


def data_ranges(path):
    """(start, end) of each data range the file system reports."""
    with open(path, 'rb') as f:
        return list(volumes.data_ranges(f.fileno(),
                                        os.fstat(f.fileno()).st_size))


def allocated_bytes(path):
    return os.stat(path).st_blocks * 512


class SparseVolumeTestCase(base.DriverTestCase):

    def setUp(self):
        super().setUp()
        self.syscalls = self.useFixture(SyscallLog())
        self.files = []

    def sparse_volume(self, size, ranges, name='sparse.img', seed=1,
                      keep=True):
        """A sparse file of size bytes holding random data in ranges
        ((offset, length) pairs), holes elsewhere; and its bytes (None
        unless keep)."""
        path = os.path.join(self.work, name)
        expected = bytearray(size if keep else 0)
        with open(path, 'wb') as f:
            f.truncate(size)
            for number, (offset, length) in enumerate(ranges):
                data = base.random_bytes(length, seed * 1000 + number)
                f.seek(offset)
                f.write(data)
                if keep:
                    expected[offset:offset + length] = data
        self.assertEqual(sorted((o, o + n) for o, n in ranges if n),
                         self.merged(data_ranges(path)),
                         'the test file system did not keep the holes')
        return path, bytes(expected) if keep else None

    @staticmethod
    def merged(ranges):
        out = []
        for start, end in sorted(ranges):
            if out and start <= out[-1][1]:
                out[-1] = (out[-1][0], max(out[-1][1], end))
            else:
                out.append((start, end))
        return out

    def backup_counted(self, path, parent=None):
        """Back the file up through a CountingFile; return the backup and
        the bytes read through the file object."""
        counting = []

        def wrap(f):
            self.syscalls.fds.add(f.fileno())
            counting.append(CountingFile(f))
            return cinder_utils.tpool_wrap(counting[0])
        backup = self.run_backup(path, parent=parent, wrap=wrap)
        return backup, counting[0].bytes_read

    def unread_bytes(self, backup):
        """What the backup's manifest records as not read."""
        with open(os.path.join(self.backup_dir(backup),
                               'manifest.json')) as f:
            return json.load(f)['stats'].get('unread_bytes', 0)

    def assertReadOnly(self, data_bytes, object_reads):
        self.assertEqual(0, object_reads,
                         'the volume was read through the file object')
        self.assertEqual(data_bytes, self.syscalls.bytes_read,
                         'bytes read of the volume: %s'
                         % self.syscalls.preads)
        self.assertEqual([], self.syscalls.on_hub)


class HoleLayoutTest(SparseVolumeTestCase):
    """Each layout is backed up reading only its data, and restored byte
    for byte onto a new and onto an existing volume."""

    SIZE = 8 * CHUNK

    LAYOUTS = {
        # A hole starting and ending exactly at chunk boundaries.
        'chunk_boundaries': [(0, CHUNK), (3 * CHUNK, 2 * CHUNK),
                             (7 * CHUNK, CHUNK)],
        # Holes starting and ending inside chunks.
        'mid_chunk': [(0, CHUNK + 24 * KiB), (2 * CHUNK + 40 * KiB,
                                              3 * CHUNK)],
        # Alternating single blocks of data and hole in one chunk.
        'block_granularity': [(CHUNK + i * 2 * BLOCK, BLOCK)
                              for i in range(CHUNK // (2 * BLOCK))],
        # Data, then a hole to the end of the volume.
        'ends_in_hole': [(0, 2 * CHUNK + 12 * KiB)],
        # Nothing but a hole.
        'all_hole': [],
        # Data from the first byte to the last.
        'no_hole': [(0, 8 * CHUNK)],
    }

    def check_layout(self, name):
        ranges = self.LAYOUTS[name]
        path, expected = self.sparse_volume(self.SIZE, ranges)
        backup, object_reads = self.backup_counted(path)
        data_bytes = sum(length for _o, length in ranges)
        self.assertReadOnly(data_bytes, object_reads)
        self.assertEqual(self.SIZE - data_bytes, self.unread_bytes(backup))
        self.assertRestores(backup, expected)
        # A restore to a new volume writes no zeros: the holes stay.
        target = self.new_target(self.SIZE, name='fresh.img')
        self.run_restore(backup, target, volume_is_new=True)
        self.assertEqual(self.merged((o, o + n) for o, n in ranges),
                         self.merged(data_ranges(target)))

    def test_chunk_boundaries(self):
        self.check_layout('chunk_boundaries')

    def test_mid_chunk(self):
        self.check_layout('mid_chunk')

    def test_block_granularity(self):
        self.check_layout('block_granularity')

    def test_ends_in_hole(self):
        self.check_layout('ends_in_hole')

    def test_all_hole(self):
        self.check_layout('all_hole')

    def test_no_hole(self):
        self.check_layout('no_hole')

    def test_lseek_never_on_the_hub(self):
        path, _expected = self.sparse_volume(
            self.SIZE, self.LAYOUTS['mid_chunk'])
        self.backup_counted(path)
        self.assertNotEqual([], self.syscalls.seeks)
        self.assertEqual([], self.syscalls.on_hub)

    def test_holes_are_not_sampled(self):
        # The file system's holes are authoritative: only librbd's report
        # is checked by reading where it says there is nothing.
        sampled = []
        self.useFixture(fixtures.MonkeyPatch(
            'cinder_backup_ext.volume.volume_io.VolumeFile.first_data_in',
            lambda volume, *args: sampled.append(args)))
        path, _expected = self.sparse_volume(
            self.SIZE, self.LAYOUTS['chunk_boundaries'])
        self.backup_counted(path)
        self.assertEqual([], sampled)

    def test_file_system_without_seek_data_is_read_whole(self):
        path, expected = self.sparse_volume(
            self.SIZE, self.LAYOUTS['chunk_boundaries'])
        real_lseek = os.lseek

        def refuse(fd, offset, whence):
            if whence in (os.SEEK_DATA, os.SEEK_HOLE):
                raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
            return real_lseek(fd, offset, whence)
        self.useFixture(fixtures.MonkeyPatch('os.lseek', refuse))
        backup, object_reads = self.backup_counted(path)
        self.assertEqual(self.SIZE, object_reads)
        self.assertEqual(0, self.syscalls.bytes_read)
        self.assertRestores(backup, expected)


class IncrementalHolesTest(SparseVolumeTestCase):

    def test_data_that_became_holes_is_zero_and_unread(self):
        size = 8 * CHUNK
        path, original = self.sparse_volume(size, [(0, size)])
        full, _reads = self.backup_counted(path)
        # Holes punched since the full backup: a whole chunk, one across a
        # chunk boundary, a single block, and the volume's tail.
        holes = [(2 * CHUNK, CHUNK), (4 * CHUNK - 8 * KiB, 24 * KiB),
                 (6 * CHUNK + 20 * KiB, BLOCK), (7 * CHUNK + 32 * KiB,
                                                 32 * KiB)]
        now = bytearray(original)
        for offset, length in holes:
            punch(path, offset, length)
            now[offset:offset + length] = bytes(length)
        del self.syscalls.preads[:]
        incremental, object_reads = self.backup_counted(path, parent=full)
        self.assertReadOnly(size - sum(n for _o, n in holes), object_reads)
        # Nothing new to store: the holes are zero extents, the rest is
        # the parent's.
        self.assertEqual([], self.data_objects(incremental))
        self.assertRestores(incremental, bytes(now))
        self.assertRestores(full, original)


class LargeSparseFileTest(SparseVolumeTestCase):
    """An 8 GiB file holding 2 MiB: only the 2 MiB are read, and nothing of
    the holes is listed up front (the extent map is asked per chunk)."""

    def test_8_gib_file_reads_only_its_data(self):
        size = 8 * units.Gi
        # Larger objects and blocks than the other tests: the volume's
        # fingerprints and chunks stay few, the holes are what matters.
        self.flags(backup_sha_block_size_bytes=MiB,
                   backup_file_size=8 * MiB, backup_object_size=8 * MiB)
        self.volume = self.create_volume(size_gb=8)
        self.target_volume = self.create_volume(size_gb=8)
        ranges = [(0, 512 * KiB), (3 * units.Gi + 4 * KiB, 512 * KiB),
                  (5 * units.Gi - 256 * KiB, 512 * KiB),
                  (size - 512 * KiB, 512 * KiB)]
        path, _expected = self.sparse_volume(size, ranges, keep=False)
        submitted = []
        submit = concurrency.NativeWorkers.submit

        def counted(workers, fn, *args):
            submitted.append(getattr(fn, '__name__', fn))
            return submit(workers, fn, *args)
        self.mock_object(concurrency.NativeWorkers, 'submit', counted)
        backup, object_reads = self.backup_counted(path)
        self.assertReadOnly(2 * MiB, object_reads)
        # The 1020 chunks of holes are taken as zeros on the backup's own
        # thread: no round trip to a worker each.
        self.assertLess(submitted.count('_process'), 2 * len(ranges) + 2,
                        submitted)
        self.assertEqual(size - 2 * MiB, self.unread_bytes(backup))
        # A question or two per change between hole and data, and a
        # SEEK_DATA and SEEK_HOLE per data range in a chunk read: the map
        # is streamed, and a hole of a thousand chunks is one question,
        # not a thousand.
        self.assertLessEqual(len(self.syscalls.seeks), 8 * len(ranges) + 4)
        target = self.new_target(size, name='large-target.img')
        self.run_restore(backup, target, volume_is_new=True)
        self.assertEqual(size, os.path.getsize(target))
        # A block holding any data is restored whole, its zeros included;
        # everything else stays a hole.  Comparing the blocks with data
        # compares the whole volume, without reading 8 GiB of holes.
        blocks = self.merged(
            (offset - offset % MiB, -(-(offset + length) // MiB) * MiB)
            for offset, length in ranges)
        self.assertEqual(blocks, self.merged(data_ranges(target)))
        with open(path, 'rb') as source, open(target, 'rb') as restored:
            for start, end in blocks:
                source.seek(start)
                restored.seek(start)
                self.assertEqual(source.read(end - start),
                                 restored.read(end - start))


class ExistingVolumeTest(SparseVolumeTestCase):
    """A restore onto a volume that holds other data punches the backup's
    zero ranges out of it."""

    RANGES = [(0, CHUNK), (3 * CHUNK + 16 * KiB, CHUNK),
              (6 * CHUNK, 2 * CHUNK)]
    SIZE = 8 * CHUNK

    def restore_existing(self):
        path, expected = self.sparse_volume(self.SIZE, self.RANGES)
        backup, _reads = self.backup_counted(path)
        target = self.existing_target(self.SIZE)
        with open(target, 'r+b') as f:
            os.fsync(f.fileno())
        before = allocated_bytes(target)
        self.run_restore(backup, target, volume_is_new=False)
        self.assertEqual(base.sha256_bytes(expected),
                         base.sha256_file(target))
        return target, before

    def test_zero_ranges_become_holes(self):
        target, before = self.restore_existing()
        self.assertEqual(self.merged((o, o + n) for o, n in self.RANGES),
                         self.merged(data_ranges(target)))
        self.assertLess(allocated_bytes(target), before)

    def test_zeros_written_where_punching_is_unsupported(self):
        calls = []

        def unsupported(fd, offset, length):
            calls.append((offset, length))
            raise OSError(errno.EOPNOTSUPP, os.strerror(errno.EOPNOTSUPP))
        self.useFixture(fixtures.MonkeyPatch(
            'cinder_backup_ext.volume.disk.punch_hole', unsupported))
        target, before = self.restore_existing()
        # Refused once, then remembered: the other ranges were written.
        self.assertEqual(1, len(calls))
        self.assertEqual([(0, self.SIZE)], data_ranges(target))

    def test_other_punch_errors_fail_the_restore(self):
        def broken(fd, offset, length):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        self.useFixture(fixtures.MonkeyPatch(
            'cinder_backup_ext.volume.disk.punch_hole', broken))
        path, _expected = self.sparse_volume(self.SIZE, self.RANGES)
        backup, _reads = self.backup_counted(path)
        target = self.existing_target(self.SIZE)
        self.assertRaises(Exception, self.run_restore, backup, target,
                          volume_is_new=False)


class WritebackTest(SparseVolumeTestCase):
    """Restored ranges are handed to writeback as they are written, and
    waited for a bounded distance behind, never on the hub's thread."""

    def setUp(self):
        super().setUp()
        self.calls = []
        real = disk.sync_file_range

        def record(fd, offset, nbytes, flags):
            self.calls.append((thread_rules.on_hub_thread(),
                               threading.get_ident(), offset, nbytes,
                               flags))
            return real(fd, offset, nbytes, flags)
        self.useFixture(fixtures.MonkeyPatch(
            'cinder_backup_ext.volume.disk.sync_file_range', record))
        # Small windows so that a small volume goes through several.
        self.useFixture(fixtures.MonkeyPatch(
            'cinder_backup_ext.volume.volume_io._WRITEBACK_START', 64 * KiB))
        self.useFixture(fixtures.MonkeyPatch(
            'cinder_backup_ext.volume.volume_io._WRITEBACK_AHEAD', 256 * KiB))

    def test_restored_ranges_are_written_back(self):
        size = 32 * CHUNK
        # The last range is left over when the restore ends: finish()
        # starts its writeback before the fsync.
        ranges = [(0, 10 * CHUNK), (12 * CHUNK + 8 * KiB, 15 * CHUNK),
                  (31 * CHUNK, 20 * KiB)]
        path, expected = self.sparse_volume(size, ranges)
        backup, _reads = self.backup_counted(path)
        for volume_is_new in (True, False):
            del self.calls[:]
            got = self.restore_bytes(backup, size, volume_is_new)
            self.assertEqual(base.sha256_bytes(expected), got)
            self.assertEqual([], [c for c in self.calls if c[0]],
                             'writeback on the hub thread')
            started = [(offset, offset + nbytes)
                       for _hub, _t, offset, nbytes, flags in self.calls
                       if flags == disk.SYNC_FILE_RANGE_WRITE]
            covered = self.merged(started)
            for offset, length in ranges:
                self.assertTrue(
                    any(low <= offset and offset + length <= high
                        for low, high in covered),
                    'writeback never started for %d+%d: %s'
                    % (offset, length, covered))
            waits = [c for c in self.calls
                     if c[4] & disk.SYNC_FILE_RANGE_WAIT_AFTER]
            self.assertNotEqual([], waits, 'dirty pages never waited for')


class WorkerWritesTest(SparseVolumeTestCase):
    """A restore into a file writes each object on the native worker that
    decoded and checked it, in the same step: the operation's thread (the
    hub) writes nothing, and the writes of one object do not wait for the
    writes of the object before it."""

    def test_each_object_is_written_by_the_worker_that_checked_it(self):
        checked = {}
        written = {}
        on_hub = []
        real_check = block_check.check_data
        real_pwrite = os.pwrite

        def check(index, extent, plaintext, key=None):
            checked[extent.offset] = threading.get_ident()
            return real_check(index, extent, plaintext, key)

        def pwrite(fd, data, offset):
            written[offset] = threading.get_ident()
            if thread_rules.on_hub_thread():
                on_hub.append(offset)
            return real_pwrite(fd, data, offset)
        size = 24 * CHUNK
        ranges = [(0, 10 * CHUNK), (12 * CHUNK, 12 * CHUNK)]
        path, expected = self.sparse_volume(size, ranges)
        backup, _reads = self.backup_counted(path)
        self.useFixture(fixtures.MonkeyPatch(
            'cinder_backup_ext.engine.block_check.check_data', check))
        self.useFixture(fixtures.MonkeyPatch('os.pwrite', pwrite))
        for volume_is_new in (True, False):
            checked.clear()
            written.clear()
            got = self.restore_bytes(backup, size, volume_is_new)
            self.assertEqual(base.sha256_bytes(expected), got)
            self.assertEqual([], on_hub, 'written on the hub thread')
            # One object per chunk, one extent each.
            self.assertEqual(22, len(checked))
            self.assertEqual(
                checked, {offset: written.get(offset) for offset in checked},
                'objects written by another thread than checked them')


class BlockDeviceTest(SparseVolumeTestCase):
    """A block device (a loop device here) keeps being read whole, and a
    restore onto it zeroes ranges with BLKZEROOUT."""

    SIZE = 8 * CHUNK
    RANGES = [(0, CHUNK), (3 * CHUNK + 16 * KiB, CHUNK)]

    def loop_device(self, path):
        return loop_device.attach(self, path)

    def test_backup_reads_a_device_whole(self):
        path, expected = self.sparse_volume(self.SIZE, self.RANGES)
        device = self.loop_device(path)
        backup, object_reads = self.backup_counted(device)
        self.assertEqual(self.SIZE, object_reads)
        self.assertEqual(0, self.syscalls.bytes_read)
        self.assertRestores(backup, expected)

    def test_restore_onto_a_device_zeroes_its_ranges(self):
        path, expected = self.sparse_volume(self.SIZE, self.RANGES)
        backup, _reads = self.backup_counted(path)
        device = self.loop_device(self.existing_target(self.SIZE))
        zeroed = []
        real = disk.zero_out

        def record(fd, offset, length):
            zeroed.append((offset, length))
            return real(fd, offset, length)
        self.useFixture(fixtures.MonkeyPatch(
            'cinder_backup_ext.volume.disk.zero_out', record))
        self.run_restore(backup, device, volume_is_new=False)
        with open(device, 'rb') as f:
            self.assertEqual(base.sha256_bytes(expected),
                             base.sha256_bytes(f.read(self.SIZE)))
        holes = [(CHUNK, 3 * CHUNK + 16 * KiB - CHUNK),
                 (4 * CHUNK + 16 * KiB, self.SIZE - 4 * CHUNK - 16 * KiB)]
        self.assertEqual(holes, [
            (start, end - start) for start, end in self.merged(
                (offset, offset + length) for offset, length in zeroed)])
