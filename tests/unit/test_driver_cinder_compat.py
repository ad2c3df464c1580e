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

"""Backups written by Cinder's own POSIX driver, handled by ours.

An operator switching drivers keeps every backup made before the switch:
these tests make backups with cinder.backup.drivers.posix in the same
repository and process, then restore and delete them with ours.
"""

import os

from cinder.backup.drivers import posix as cinder_posix
from cinder import exception

from cinder_backup_ext import exception as ext_exception
from tests.unit import driver_base as base

OBJ = base.OBJECT_SIZE
BLK = base.BLOCK_SIZE
CINDER = cinder_posix.PosixBackupDriver


def edit(data, offset, new):
    return data[:offset] + new + data[offset + len(new):]


def flip_byte(path):
    with open(path, 'r+b') as f:
        f.seek(os.fstat(f.fileno()).st_size // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0x01]))


class CinderFormatTest(base.DriverTestCase):

    def _cinder_backup(self, data, **kwargs):
        backup = self.run_backup(data, driver_class=CINDER, **kwargs)
        # Make sure the fixture really produced Cinder's 1.0.0 layout.
        self.assertTrue(backup.service_metadata.startswith('volume_'))
        self.assertIn(backup.service_metadata + '_metadata',
                      [os.path.basename(rel)
                       for rel in self.backup_files(backup)])
        return backup

    def _chain_states(self):
        v0 = b''.join([base.random_bytes(4 * OBJ, seed=150),
                       bytes(2 * OBJ),
                       base.compressible_bytes(4 * OBJ, seed=151),
                       base.random_bytes(3 * BLK, seed=152)])
        # data -> zero across an object boundary, zero -> data inside the
        # zero objects.
        v1 = edit(v0, 3 * OBJ + 2 * BLK, bytes(OBJ))
        v1 = edit(v1, 4 * OBJ + 5 * BLK, base.random_bytes(2 * BLK, seed=153))
        v2 = edit(v1, 3 * OBJ + 4 * BLK, base.random_bytes(BLK, seed=154))
        v2 = edit(v2, 8 * OBJ, bytes(2 * OBJ))
        return [v0, v1, v2]

    def test_cinder_full_backups_restore_with_every_compression(self):
        data = b''.join([base.compressible_bytes(5 * OBJ, seed=155),
                         bytes(OBJ), base.random_bytes(2 * OBJ, seed=156)])
        for algorithm in base.COMPRESSIONS:
            self.flags(backup_compression_algorithm=algorithm)
            backup = self._cinder_backup(data)
            self.assertRestores(backup, data)

    def test_cinder_chain_of_three_restores(self):
        states = self._chain_states()
        chain = []
        for state in states:
            chain.append(self._cinder_backup(
                state, parent=chain[-1] if chain else None))
        for backup, state in zip(chain, states):
            self.assertRestores(backup, state)

    def test_cinder_chain_deleted_by_our_driver(self):
        states = self._chain_states()
        chain = []
        for state in states:
            chain.append(self._cinder_backup(
                state, parent=chain[-1] if chain else None))
        for backup in reversed(chain):
            self.assertNotEqual([], self.backup_files(backup))
            self.run_delete(backup)
            self.assertEqual([], self.backup_files(backup))
        self.assertEqual([], base.tree_files(self.repo))

    def test_cinder_backups_sharing_a_container(self):
        # Cinder's objects of many backups can sit in one directory; deleting
        # one must remove exactly its own objects.
        first = base.random_bytes(5 * OBJ, seed=157)
        second = base.random_bytes(6 * OBJ, seed=158)
        b1 = self._cinder_backup(first, container='shared')
        b2 = self._cinder_backup(self.write_volume(second, 'b.img'),
                                 container='shared',
                                 volume=self.create_volume())
        kept = {rel: base.sha256_file(os.path.join(self.repo, rel))
                for rel in self.backup_files(b2)}
        self.run_delete(b1)
        self.assertEqual([], self.backup_files(b1))
        self.assertEqual(kept, {
            rel: base.sha256_file(os.path.join(self.repo, rel))
            for rel in self.backup_files(b2)})
        self.assertRestores(b2, second)
        self.assertRestores(b2, second, driver_class=CINDER)

    def test_mixed_repository(self):
        # Old and new backups side by side, each restored by our driver.
        old = base.random_bytes(4 * OBJ, seed=159)
        new = base.random_bytes(4 * OBJ, seed=160)
        b_old = self._cinder_backup(old)
        b_new = self.run_backup(self.write_volume(new, 'n.img'))
        self.assertRestores(b_old, old)
        self.assertRestores(b_new, new)

    def test_our_incremental_on_a_cinder_parent_is_refused(self):
        # After switching drivers the manager picks the last Cinder backup
        # as parent.  Format 2 cannot refer to Cinder's objects, and a full
        # backup made instead of the incremental asked for would surprise
        # whoever counts on its size: refused, naming the parent and what
        # to do, with nothing left on the share.
        v0 = base.random_bytes(6 * OBJ, seed=161)
        parent = self._cinder_backup(v0)
        before = base.tree_files(self.repo)
        v1 = edit(v0, 2 * OBJ, base.random_bytes(BLK, seed=162))
        incr = self.create_backup_record(parent=parent)
        with open(self.write_volume(v1), 'rb') as f:
            error = self.assertRaises(exception.InvalidBackup,
                                      self.make_driver().backup, incr, f)
        self.assertIn('parent backup %s was made by another driver'
                      % parent.id, str(error))
        self.assertIn('make a full backup', str(error))
        self.assertEqual([], self.backup_files(incr))
        self.assertEqual(before, base.tree_files(self.repo))
        self.assertRestores(parent, v0)
        # The full backup it asks for works.
        full = self.run_backup(v1)
        self.assertRestores(full, v1)

    def _data_object(self, backup):
        objects = self.data_objects(backup)
        self.assertGreater(len(objects), 2)
        return objects[len(objects) // 2]

    def assertCorruptionDetected(self, backup, size, object_name):
        for volume_is_new in (True, False):
            error = self.assertRaises(
                ext_exception.BackupCorrupted, self.restore_bytes, backup,
                size, volume_is_new)
            self.assertIn(backup.id, str(error))
            self.assertIn(object_name, str(error))

    def test_flipped_byte_in_cinder_object_detected(self):
        # Cinder records an md5 of every object's data in its metadata.
        for algorithm in ('none', 'zlib'):
            self.flags(backup_compression_algorithm=algorithm)
            data = base.compressible_bytes(6 * OBJ, seed=163)
            backup = self._cinder_backup(data)
            path = self._data_object(backup)
            flip_byte(path)
            self.assertCorruptionDetected(backup, len(data),
                                          os.path.basename(path))

    def test_truncated_cinder_object_detected(self):
        self.flags(backup_compression_algorithm='none')
        data = base.random_bytes(6 * OBJ, seed=164)
        backup = self._cinder_backup(data)
        path = self._data_object(backup)
        with open(path, 'r+b') as f:
            f.truncate(100)
        self.assertCorruptionDetected(backup, len(data),
                                      os.path.basename(path))

    def test_missing_cinder_object_detected(self):
        data = base.random_bytes(6 * OBJ, seed=165)
        backup = self._cinder_backup(data)
        path = self._data_object(backup)
        os.unlink(path)
        for volume_is_new in (True, False):
            error = self.assertRaises(exception.InvalidBackup,
                                      self.restore_bytes, backup, len(data),
                                      volume_is_new)
            self.assertIn(backup.id, str(error))

    def test_damaged_cinder_metadata_detected(self):
        data = base.random_bytes(4 * OBJ, seed=166)
        backup = self._cinder_backup(data)
        name = backup.service_metadata + '_metadata'
        path = [os.path.join(self.repo, rel)
                for rel in self.backup_files(backup)
                if rel.endswith(name)][0]
        with open(path, 'r+b') as f:
            f.truncate(os.fstat(f.fileno()).st_size // 2)
        for volume_is_new in (True, False):
            error = self.assertRaises(exception.InvalidBackup,
                                      self.restore_bytes, backup, len(data),
                                      volume_is_new)
            self.assertIn(backup.id, str(error))
