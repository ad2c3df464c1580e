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

"""disk: the Linux calls, on real files, pipes and a loop device."""

import errno
import os

import fixtures
import testtools

from cinder_backup_ext.volume import disk
from tests.unit import loop_device

KiB = 1024
MiB = 1024 * KiB


class DiskTestCase(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path

    def data_file(self, size, name='data.img'):
        """A file of size bytes of 0xab, on disk, no holes."""
        path = os.path.join(self.tmp, name)
        with open(path, 'wb') as f:
            f.write(b'\xab' * size)
            f.flush()
            os.fsync(f.fileno())
        return path

    def open(self, path, flags=os.O_RDWR):
        fd = os.open(path, flags)
        self.addCleanup(os.close, fd)
        return fd

    def pipe(self):
        reader, writer = os.pipe()
        self.addCleanup(os.close, reader)
        self.addCleanup(os.close, writer)
        return writer


class PunchHoleTest(DiskTestCase):

    def test_range_becomes_a_hole_and_the_size_stays(self):
        path = self.data_file(MiB)
        fd = self.open(path)
        before = os.fstat(fd).st_blocks
        disk.punch_hole(fd, 64 * KiB, 128 * KiB)
        self.assertEqual(MiB, os.fstat(fd).st_size)
        self.assertEqual(before - 128 * KiB // 512, os.fstat(fd).st_blocks)
        self.assertEqual(64 * KiB, os.lseek(fd, 0, os.SEEK_HOLE))
        self.assertEqual(192 * KiB, os.lseek(fd, 64 * KiB, os.SEEK_DATA))
        self.assertEqual(b'\xab' * 64 * KiB + bytes(128 * KiB) +
                         b'\xab' * (MiB - 192 * KiB),
                         os.pread(fd, MiB, 0))

    def test_errors_carry_the_errno(self):
        fd = self.open(self.data_file(64 * KiB), os.O_RDONLY)
        error = self.assertRaises(OSError, disk.punch_hole, fd, 0, 4096)
        self.assertEqual(errno.EBADF, error.errno)
        error = self.assertRaises(OSError, disk.punch_hole, self.pipe(), 0,
                                  4096)
        self.assertEqual(errno.ESPIPE, error.errno)

    def test_a_missing_call_is_enosys(self):
        error = self.assertRaises(OSError, disk._function,
                                  'no_such_linux_call')
        self.assertEqual(errno.ENOSYS, error.errno)
        self.assertIn(errno.ENOSYS, disk.UNSUPPORTED)


class SyncFileRangeTest(DiskTestCase):

    def test_start_and_wait_on_a_file(self):
        fd = self.open(self.data_file(0))
        os.pwrite(fd, b'x' * MiB, 0)
        disk.start_writeback(fd, 0, MiB)
        disk.wait_writeback(fd, 0, MiB)
        # Waited for: nothing of the range is dirty or under writeback.
        self.assertEqual(b'x' * MiB, os.pread(fd, MiB, 0))

    def test_refused_on_a_pipe(self):
        error = self.assertRaises(OSError, disk.start_writeback,
                                  self.pipe(), 0, 4096)
        self.assertEqual(errno.ESPIPE, error.errno)


class ZeroOutTest(DiskTestCase):

    def test_a_regular_file_is_not_a_block_device(self):
        fd = self.open(self.data_file(64 * KiB))
        error = self.assertRaises(OSError, disk.zero_out, fd, 0, 4096)
        self.assertEqual(errno.ENOTTY, error.errno)
        self.assertIn(error.errno, disk.UNSUPPORTED)

    def loop_device(self, path):
        return loop_device.attach(self, path)

    def test_zeroes_a_range_of_a_loop_device(self):
        device = self.loop_device(self.data_file(MiB))
        fd = self.open(device)
        disk.zero_out(fd, 64 * KiB, 128 * KiB)
        self.assertEqual(b'\xab' * 64 * KiB + bytes(128 * KiB) +
                         b'\xab' * (MiB - 192 * KiB),
                         os.pread(fd, MiB, 0))

    def test_unaligned_range_is_refused(self):
        device = self.loop_device(self.data_file(MiB))
        fd = self.open(device)
        error = self.assertRaises(OSError, disk.zero_out, fd, 100, 4096)
        self.assertEqual(errno.EINVAL, error.errno)
        self.assertEqual(b'\xab' * MiB, os.pread(fd, MiB, 0))
