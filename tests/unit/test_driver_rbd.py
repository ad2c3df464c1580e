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

"""Ceph volumes: what cinder-backup hands a driver for them.

For an RBD volume cinder-backup passes os-brick's RBDVolumeIOWrapper,
inside eventlet's tpool.Proxy: an io.RawIOBase with read, write, seek,
tell and flush only, over a librbd image whose write takes bytes only.
These tests drive the driver through Cinder's API with that very wrapper
over an in-memory image (fake_rbd), and with other objects as bare; the
functional tests do it against a real Ceph cluster.
"""

import io
import logging

import fixtures

from cinder import exception as cinder_exception
from cinder import utils as cinder_utils

from cinder_backup_ext.runtime import concurrency
from cinder_backup_ext.volume import volume_io
from tests.unit import driver_base as base
from tests.unit import fake_rbd

OBJ = base.OBJECT_SIZE
RBD_OBJ = fake_rbd.OBJECT_SIZE


def thin_volume(size, seed, used=((0, 3), (10, 2), (30, 1))):
    """size bytes, zero but for runs of (first RBD object, count) of
    random data."""
    data = bytearray(size)
    for first, count in used:
        start = first * RBD_OBJ
        data[start:start + count * RBD_OBJ] = base.random_bytes(
            count * RBD_OBJ, seed + first)
    return bytes(data)


class BareVolume(object):
    """A volume file with read, write, seek, tell and flush only: no
    readinto, fileno or truncate."""

    def __init__(self, data):
        self._f = io.BytesIO(data)

    def read(self, size=-1):
        return self._f.read(size)

    def write(self, data):
        return self._f.write(data)

    def seek(self, offset, whence=0):
        return self._f.seek(offset, whence)

    def tell(self):
        return self._f.tell()

    def flush(self):
        pass

    def getvalue(self):
        return self._f.getvalue()


class RBDTestCase(base.DriverTestCase):

    SIZE = 48 * RBD_OBJ

    def backup_image(self, image, parent=None):
        """Back the image up as cinder-backup does; the backup record."""
        backup = self.create_backup_record(parent=parent)
        driver = self.make_driver()
        driver.backup(backup, cinder_utils.tpool_wrap(
            fake_rbd.wrapper(image)))
        backup = self.reload(backup)
        backup.status = 'available'
        backup.save()
        return backup

    def restore_image(self, backup, image, volume_is_new):
        backup = self.reload(backup)
        backup.status = 'restoring'
        backup.save()
        self.make_driver().restore(
            backup, self.target_volume.id,
            cinder_utils.tpool_wrap(fake_rbd.wrapper(image)), volume_is_new)
        backup = self.reload(backup)
        backup.status = 'available'
        backup.save()

    def assertRestoresToNewImage(self, backup, image):
        """The backup, restored to a new image, reads as image does."""
        new = fake_rbd.FakeImage(bytes(self.SIZE))
        self.restore_image(backup, new, volume_is_new=True)
        self.assertEqual(bytes(image.data), bytes(new.data))

    def assertBackupFails(self, image, message):
        """A backup of image fails with message, naming the volume, and
        leaves nothing stored."""
        backup = self.create_backup_record()
        error = self.assertRaises(
            cinder_exception.BackupDriverException,
            self.make_driver().backup, backup,
            cinder_utils.tpool_wrap(fake_rbd.wrapper(image)))
        self.assertIn(backup.volume_id, str(error))
        self.assertIn(message, str(error))
        self.assertEqual([], self.backup_files(backup))


class RBDRoundTripTest(RBDTestCase):

    def test_full_and_incremental_restore_to_new_and_existing_images(self):
        data = thin_volume(self.SIZE, 1)
        image = fake_rbd.FakeImage(data)
        full = self.backup_image(image)
        changed = bytearray(data)
        changed[RBD_OBJ + 5:RBD_OBJ + 500] = b'x' * 495
        changed[20 * RBD_OBJ:21 * RBD_OBJ] = base.random_bytes(RBD_OBJ, 9)
        changed[0:RBD_OBJ] = bytes(RBD_OBJ)        # data back to zeros
        image.write(bytes(changed), 0)
        incremental = self.backup_image(image, parent=full)
        for backup, expected in ((full, data), (incremental, changed)):
            new = fake_rbd.FakeImage(bytes(len(expected)))
            self.restore_image(backup, new, volume_is_new=True)
            self.assertEqual(bytes(expected), bytes(new.data))
            old = fake_rbd.FakeImage(base.random_bytes(len(expected), 5))
            self.restore_image(backup, old, volume_is_new=False)
            self.assertEqual(bytes(expected), bytes(old.data))

    def test_bare_file_object(self):
        data = thin_volume(self.SIZE, 2)
        backup = self.create_backup_record()
        self.make_driver().backup(backup, BareVolume(data))
        backup = self.reload(backup)
        backup.status = 'available'
        backup.save()
        target = BareVolume(base.random_bytes(len(data), 3))
        backup.status = 'restoring'
        backup.save()
        self.make_driver().restore(backup, self.target_volume.id, target,
                                   False)
        self.assertEqual(data, target.getvalue())


class RBDAllocationTest(RBDTestCase):

    def test_only_allocated_objects_are_read(self):
        self.flags(backup_allocation_samples=4)
        image = fake_rbd.FakeImage(thin_volume(self.SIZE, 4))
        backup = self.backup_image(image)
        allocated = len(image.allocated) * RBD_OBJ
        # The data, and four sampled blocks of what is not allocated.
        self.assertLessEqual(image.bytes_read,
                             allocated + 4 * base.BLOCK_SIZE)
        self.assertGreaterEqual(image.bytes_read, allocated)
        self.assertRestoresToNewImage(backup, image)

    def test_the_workers_read_the_chunks_of_an_image(self):
        # Positional reads on the workers, so that several overlap.
        self.flags(backup_allocation_samples=0)
        image = fake_rbd.FakeImage(thin_volume(self.SIZE, 9))
        on_worker = []
        image.on_read = lambda image, offset: on_worker.append(
            concurrency.on_native_worker())
        backup = self.backup_image(image)
        self.assertEqual(len(image.allocated), len(on_worker))
        self.assertEqual({True}, set(on_worker))
        self.assertRestoresToNewImage(backup, image)

    def test_incremental_reads_only_what_is_allocated_now(self):
        self.flags(backup_allocation_samples=0)
        image = fake_rbd.FakeImage(thin_volume(self.SIZE, 6))
        full = self.backup_image(image)
        # Object 10 is discarded: the incremental must record zeros there.
        image.write_zeroes(10 * RBD_OBJ, RBD_OBJ)
        image.bytes_read = 0
        incremental = self.backup_image(image, parent=full)
        self.assertEqual(len(image.allocated) * RBD_OBJ, image.bytes_read)
        old = fake_rbd.FakeImage(base.random_bytes(self.SIZE, 7))
        self.restore_image(incremental, old, volume_is_new=False)
        self.assertEqual(bytes(image.data), bytes(old.data))

    def test_without_hints_everything_is_read_and_said_once(self):
        log = self.useFixture(fixtures.FakeLogger(level=logging.INFO))
        image = fake_rbd.NoHintsImage(thin_volume(self.SIZE, 8))
        backup = self.backup_image(image)
        self.assertEqual(self.SIZE, image.bytes_read)
        self.assertEqual(1, log.output.count('cannot tell which parts'))
        self.assertRestoresToNewImage(backup, image)

    def test_failing_hints_fall_back_to_reading_everything(self):
        image = fake_rbd.FakeImage(thin_volume(self.SIZE, 9))
        self.mock_object(image, 'diff_iterate',
                         side_effect=OSError(5, 'librbd says no'))
        self.backup_image(image)
        self.assertEqual(self.SIZE, image.bytes_read)

    def test_a_lying_hint_fails_the_backup(self):
        # Every unallocated block is sampled: the lie is always caught.
        self.flags(backup_allocation_samples=10000)
        image = fake_rbd.FakeImage(thin_volume(self.SIZE, 10))
        image.hidden.add(10)
        self.assertBackupFails(image, 'never allocated')


class RBDWriteTest(RBDTestCase):

    def test_zeros_on_an_existing_image_are_zeroed_by_the_image(self):
        data = thin_volume(self.SIZE, 11)
        backup = self.backup_image(fake_rbd.FakeImage(data))
        old = fake_rbd.FakeImage(base.random_bytes(self.SIZE, 12))
        self.restore_image(backup, old, volume_is_new=False)
        self.assertEqual(data, bytes(old.data))
        # thin_volume holds six objects of data; the rest is zeroed by
        # the image, none of it written.
        zeroed = sum(length for _offset, length in old.zeroed)
        self.assertEqual(self.SIZE - 6 * RBD_OBJ, zeroed)

    def test_a_new_image_gets_no_zeros(self):
        data = thin_volume(self.SIZE, 13)
        backup = self.backup_image(fake_rbd.FakeImage(data))
        new = fake_rbd.FakeImage(bytes(self.SIZE))
        written = []
        real_write = new.write

        def write(chunk, offset):
            # librbd refuses a memoryview before it writes anything.
            done = real_write(chunk, offset)
            written.append(len(chunk))
            return done
        new.write = write
        self.restore_image(backup, new, volume_is_new=True)
        self.assertEqual(bytes(data), bytes(new.data))
        self.assertEqual(6 * RBD_OBJ, sum(written))
        self.assertEqual([], new.zeroed)

    def test_views_reach_targets_that_take_them(self):
        writes = []

        class Recording(BareVolume):
            def write(self, data):
                writes.append(type(data))
                return super().write(data)
        target = Recording(bytes(16))
        volume = volume_io.VolumeFile(target, None)
        volume.write_at(4, memoryview(b'abcd'))
        self.assertEqual([memoryview], writes)
        self.assertEqual(b'\0' * 4 + b'abcd' + b'\0' * 8, target.getvalue())


class RBDChangesUnderTheBackupTest(RBDTestCase):

    def test_image_that_shrinks_fails_the_backup(self):
        image = fake_rbd.FakeImage(thin_volume(self.SIZE, 14))

        def shrink(image, offset):
            if offset >= 10 * RBD_OBJ:
                del image.data[20 * RBD_OBJ:]
        image.on_read = shrink
        self.assertBackupFails(image, 'changed during the backup')

    def test_image_that_disappears_fails_the_backup(self):
        image = fake_rbd.FakeImage(thin_volume(self.SIZE, 15))

        def remove(image, offset):
            if offset >= 10 * RBD_OBJ:
                image.removed = True
        image.on_read = remove
        self.assertBackupFails(image, 'ImageNotFound')
