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

"""volume_io: the volume files cinder-backup hands a driver."""

import errno
import io
import os

import fixtures
import testtools

from cinder_backup_ext.runtime import buffers
from cinder_backup_ext.runtime import concurrency
from cinder_backup_ext.volume import disk
from cinder_backup_ext.volume import volume_io
from tests.unit import fake_rbd

KiB = 1024


class AllocationTest(testtools.TestCase):

    def test_overlaps_and_gaps(self):
        allocation = volume_io.Allocation(
            [(64 * KiB, 64 * KiB), (0, 16 * KiB), (100 * KiB, 200 * KiB)],
            256 * KiB)
        # Merged and clipped to the size: [0, 16K) and [64K, 256K).
        self.assertEqual(16 * KiB + 192 * KiB, allocation.allocated_bytes)
        self.assertEqual([(16 * KiB, 64 * KiB)],
                         list(allocation.empty_ranges()))
        self.assertTrue(allocation.holds_data(0, 1))
        self.assertTrue(allocation.holds_data(15 * KiB, 17 * KiB))
        self.assertFalse(allocation.holds_data(16 * KiB, 64 * KiB))
        self.assertTrue(allocation.holds_data(63 * KiB, 65 * KiB))
        self.assertTrue(allocation.holds_data(255 * KiB, 300 * KiB))

    def test_nothing_allocated(self):
        allocation = volume_io.Allocation([], 10 * KiB)
        self.assertFalse(allocation.holds_data(0, 10 * KiB))
        self.assertEqual([(0, 10 * KiB)], list(allocation.empty_ranges()))
        self.assertEqual(0, allocation.allocated_bytes)


class VolumeFileTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.workers = self.useFixture(WorkersFixture()).workers

    def test_rbd_wrapper_reads_through_read(self):
        data = bytes(range(256)) * 1024
        volume = volume_io.VolumeFile(
            fake_rbd.wrapper(fake_rbd.FakeImage(data)), self.workers)
        buffer = bytearray(100 * KiB)
        self.assertEqual(data[:100 * KiB], volume.read_into(buffer))
        self.assertEqual(data[100 * KiB:200 * KiB], volume.read_into(buffer))
        self.assertEqual(data[200 * KiB:], volume.read_into(buffer))
        self.assertEqual(b'', volume.read_into(buffer))

    def test_file_reads_into_the_buffer(self):
        volume = volume_io.VolumeFile(io.BytesIO(b'x' * 10), self.workers)
        buffer = bytearray(4)
        self.assertIs(buffer, volume.read_into(buffer))
        self.assertEqual(b'xxxx', buffer)

    def test_bytes_for_a_target_that_takes_only_bytes(self):
        image = fake_rbd.FakeImage(bytes(16))
        volume = volume_io.VolumeFile(fake_rbd.wrapper(image), self.workers)
        volume.write_at(4, memoryview(b'abcd'))
        volume.write_at(8, memoryview(b'efgh'))
        self.assertEqual(b'\0' * 4 + b'abcdefgh' + b'\0' * 4,
                         bytes(image.data))

    def test_size_of_an_object_that_cannot_seek(self):
        class ReadOnly(object):
            def read(self, size=-1):
                return b''
        self.assertIsNone(volume_io.VolumeFile(ReadOnly(), None).size())

    def test_zero_range_writes_zeros_where_the_image_cannot(self):
        image = fake_rbd.FakeImage(b'\xff' * 64)

        def refuse(offset, length):
            raise NotImplementedError('write_zeroes')
        image.write_zeroes = refuse
        volume = volume_io.VolumeFile(fake_rbd.wrapper(image), self.workers)
        volume.zero_range(8, 16)
        self.assertEqual(b'\xff' * 8 + bytes(16) + b'\xff' * 40,
                         bytes(image.data))


class FileHolesTest(testtools.TestCase):
    """A regular file's chunks, read by its descriptor around its holes."""

    SIZE = 256 * KiB

    def setUp(self):
        super().setUp()
        self.workers = self.useFixture(WorkersFixture()).workers
        self.path = os.path.join(self.useFixture(fixtures.TempDir()).path,
                                 'sparse.img')
        # Data in [0, 16K) and [96K, 100K); the rest holes.
        with open(self.path, 'wb') as f:
            f.truncate(self.SIZE)
            f.write(b'a' * 16 * KiB)
            f.seek(96 * KiB)
            f.write(b'b' * 4 * KiB)
        self.file = open(self.path, 'rb')
        self.addCleanup(self.file.close)
        self.volume = volume_io.VolumeFile(self.file, self.workers)
        self.allocation = self.volume.allocation(self.SIZE)

    def test_a_file_answers_without_being_checked(self):
        self.assertIsInstance(self.allocation, volume_io.FileAllocation)
        self.assertFalse(self.allocation.needs_check)
        self.assertTrue(self.volume.reads_at)
        # st_blocks: the data, and whatever metadata the file system counts.
        self.assertLessEqual(20 * KiB, self.allocation.allocated_bytes)
        self.assertLess(self.allocation.allocated_bytes, self.SIZE)

    def test_holes_are_zeros_in_a_reused_buffer(self):
        buffer = bytearray(b'\xff' * 128 * KiB)
        data, unread = self.volume.read_chunk(0, 128 * KiB, buffer)
        self.assertIs(buffer, data)
        self.assertEqual(b'a' * 16 * KiB + bytes(80 * KiB) +
                         b'b' * 4 * KiB + bytes(28 * KiB), data)
        self.assertEqual(108 * KiB, unread)

    def test_a_chunk_all_hole_is_the_shared_zero_block(self):
        buffer = bytearray(b'\xff' * 64 * KiB)
        data, unread = self.volume.read_chunk(128 * KiB, 64 * KiB, buffer)
        self.assertIs(buffers.zero_block(64 * KiB), data)
        self.assertEqual(64 * KiB, unread)

    def test_a_short_last_chunk(self):
        buffer = bytearray(b'\xff' * 64 * KiB)
        data, unread = self.volume.read_chunk(92 * KiB, 8 * KiB, buffer)
        self.assertEqual(bytes(4 * KiB) + b'b' * 4 * KiB, bytes(data))
        self.assertEqual(4 * KiB, unread)

    def test_no_answer_without_seek_data(self):
        real = os.lseek

        def refuse(fd, offset, whence):
            if whence == os.SEEK_DATA:
                raise OSError(errno.EINVAL, 'no SEEK_DATA')
            return real(fd, offset, whence)
        self.useFixture(fixtures.MonkeyPatch('os.lseek', refuse))
        volume = volume_io.VolumeFile(self.file, self.workers)
        self.assertIsNone(volume.allocation(self.SIZE))
        self.assertFalse(volume.reads_at)

    def test_no_answer_from_a_file_object_without_a_descriptor(self):
        volume = volume_io.VolumeFile(io.BytesIO(bytes(16)), self.workers)
        self.assertIsNone(volume.allocation(16))


class FileWriteTest(testtools.TestCase):
    """Writes, zeroing and writeback of a regular file by its descriptor."""

    def setUp(self):
        super().setUp()
        self.workers = self.useFixture(WorkersFixture()).workers
        self.path = os.path.join(self.useFixture(fixtures.TempDir()).path,
                                 'target.img')
        with open(self.path, 'wb') as f:
            f.write(b'\xee' * 256 * KiB)
        self.file = open(self.path, 'r+b')
        self.addCleanup(self.file.close)
        self.volume = volume_io.VolumeFile(self.file, self.workers)
        self.calls = []
        real = disk.sync_file_range

        def record(fd, offset, nbytes, flags):
            self.calls.append((offset, nbytes, flags))
            return real(fd, offset, nbytes, flags)
        self.useFixture(fixtures.MonkeyPatch(
            'cinder_backup_ext.volume.disk.sync_file_range', record))

    def test_writeback_starts_and_is_waited_for(self):
        self.useFixture(fixtures.MonkeyPatch(
            'cinder_backup_ext.volume.volume_io._WRITEBACK_START', 16 * KiB))
        self.useFixture(fixtures.MonkeyPatch(
            'cinder_backup_ext.volume.volume_io._WRITEBACK_AHEAD', 32 * KiB))
        for offset in range(0, 128 * KiB, 8 * KiB):
            self.volume.write_at(offset, memoryview(b'w' * 8 * KiB))
        start = disk.SYNC_FILE_RANGE_WRITE
        wait = (disk.SYNC_FILE_RANGE_WAIT_BEFORE | start |
                disk.SYNC_FILE_RANGE_WAIT_AFTER)
        self.assertEqual(
            [(0, 16 * KiB, start), (16 * KiB, 16 * KiB, start),
             (32 * KiB, 16 * KiB, start), (48 * KiB, 16 * KiB, start),
             (0, 32 * KiB, wait),
             (64 * KiB, 16 * KiB, start), (80 * KiB, 16 * KiB, start),
             (32 * KiB, 32 * KiB, wait),
             (96 * KiB, 16 * KiB, start), (112 * KiB, 16 * KiB, start),
             (64 * KiB, 32 * KiB, wait)], self.calls)
        self.volume.write_at(128 * KiB, b'w' * 4 * KiB)
        self.volume.finish(256 * KiB)
        # What was left unstarted is started before the fsync.
        self.assertEqual((128 * KiB, 4 * KiB, start), self.calls[-1])
        with open(self.path, 'rb') as f:
            self.assertEqual(b'w' * 132 * KiB + b'\xee' * 124 * KiB,
                             f.read())

    def test_zero_range_punches_a_hole(self):
        self.volume.zero_range(64 * KiB, 64 * KiB)
        self.volume.finish(256 * KiB)
        fd = self.file.fileno()
        self.assertEqual(64 * KiB, os.lseek(fd, 0, os.SEEK_HOLE))
        self.assertEqual(128 * KiB, os.lseek(fd, 64 * KiB, os.SEEK_DATA))
        with open(self.path, 'rb') as f:
            self.assertEqual(b'\xee' * 64 * KiB + bytes(64 * KiB) +
                             b'\xee' * 128 * KiB, f.read())

    def test_writeback_left_to_fsync_where_unsupported(self):
        def refuse(fd, offset, nbytes, flags):
            self.calls.append((offset, nbytes, flags))
            raise OSError(errno.EINVAL, 'no sync_file_range')
        self.useFixture(fixtures.MonkeyPatch(
            'cinder_backup_ext.volume.disk.sync_file_range', refuse))
        self.useFixture(fixtures.MonkeyPatch(
            'cinder_backup_ext.volume.volume_io._WRITEBACK_START', 4 * KiB))
        self.volume.write_at(0, b'w' * 8 * KiB)
        self.volume.write_at(8 * KiB, b'w' * 8 * KiB)
        self.volume.finish(256 * KiB)
        self.assertEqual(1, len(self.calls))
        with open(self.path, 'rb') as f:
            self.assertEqual(b'w' * 16 * KiB, f.read(16 * KiB))


class WorkersFixture(fixtures.Fixture):
    """NativeWorkers for one test."""

    def _setUp(self):
        self.workers = concurrency.NativeWorkers(1)
        self.addCleanup(self.workers.__exit__, None, None, None)
