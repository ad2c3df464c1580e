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

"""A backup's location and its object size, which data objects are sealed
with: reading a manifest tells it, and changes no location."""

import os

import testtools

from cinder_backup_ext import exception
from cinder_backup_ext.repository import manifest
from cinder_backup_ext.repository import repository
from cinder_backup_ext.sealing import crypto
from cinder_backup_ext.storage import memory

BLOCK = 4096
OBJECT = 16 * BLOCK


class LocationObjectSizeTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.repo = repository.Repository(memory.MemoryStore())
        self.data = os.urandom(OBJECT)

    def _store(self, cipher):
        """Backup b-1 with data object 1 and its manifest; the materials of
        the object."""
        writer = repository.BackupLocation('backups', 'b-1', cipher, OBJECT)
        self.repo.prepare(writer)
        materials = self.repo.write_data(writer, 1, 'zstd', self.data)
        encryption = None
        if cipher is not None:
            encryption = {'algorithm': crypto.ALGORITHM,
                          'key_id': cipher.key_id, 'kdf': crypto.KDF}
        self.repo.write_manifest(writer, manifest.Manifest(
            'b-1', 'volume', ['b-1'], None, 0, BLOCK, OBJECT, [],
            encryption=encryption))
        return materials

    def _assert_manifest_leaves_location(self, cipher):
        materials = self._store(cipher)
        location = repository.BackupLocation('backups', 'b-1', cipher)
        before = dict(vars(location))

        found = self.repo.read_manifest(location)

        self.assertEqual(OBJECT, found.object_size)
        self.assertEqual(before, vars(location))
        self.assertIsNone(location.object_size)
        located = location.with_object_size(found.object_size)
        self.assertIsNot(location, located)
        self.assertIsNone(location.object_size)
        self.assertEqual(OBJECT, located.object_size)
        self.assertEqual(location.directory, located.directory)
        self.assertIs(cipher, located.cipher)
        self.assertEqual(self.data, bytes(self.repo.read_data(
            located, 1, materials)))

    def test_read_manifest_leaves_a_plain_location_unchanged(self):
        self._assert_manifest_leaves_location(None)

    def test_read_manifest_leaves_an_encrypted_location_unchanged(self):
        self._assert_manifest_leaves_location(
            crypto.BackupCipher('b-1', 'key-1', bytes(range(32))))

    def test_an_encrypted_object_is_sealed_with_its_volume_offset(self):
        cipher = crypto.BackupCipher('b-1', 'key-1', bytes(range(32)))
        materials = self._store(cipher)
        wrong = repository.BackupLocation('backups', 'b-1', cipher,
                                          2 * OBJECT)
        self.assertRaises(exception.BackupCorrupted, self.repo.read_data,
                          wrong, 1, materials)

    def test_unknown_object_size_gives_no_data_offset(self):
        location = repository.BackupLocation('backups', 'b-1')
        error = self.assertRaises(repository.ObjectSizeUnknown,
                                  location.data_offset, 3)
        self.assertIn('backup b-1', str(error))
        self.assertIn('data object 3 needs the object size', str(error))
        self.assertEqual(3 * OBJECT,
                         location.with_object_size(OBJECT).data_offset(3))

    def test_unknown_object_size_reads_and_writes_no_data(self):
        materials = self._store(None)
        location = repository.BackupLocation('backups', 'b-1')
        self.assertRaises(repository.ObjectSizeUnknown, self.repo.read_data,
                          location, 1, materials)
        self.assertRaises(repository.ObjectSizeUnknown, self.repo.write_data,
                          location, 2, 'zstd', self.data)
