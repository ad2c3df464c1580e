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

"""Per-backup encryption with castellan's mock key manager.

Cinder's test base configures castellan's MockKeyManager; the library keeps
one key manager per process, as cinder-backup does, so keys made by one
driver object are found by the next.  tests/functional has the same cases
against a real Barbican.
"""

import base64
import errno
import json
import os

import blake3
from castellan.common import exception as castellan_exception
from cinder import exception as cinder_exception
import fixtures

from cinder_backup_ext import exception
from cinder_backup_ext.repository import manifest
from cinder_backup_ext.repository import records
from cinder_backup_ext.repository import repository
from cinder_backup_ext.runtime import concurrency
from cinder_backup_ext.sealing import crypto
from cinder_backup_ext.sealing import keys
from cinder_backup_ext.storage import posix as posix_store
from tests.unit import driver_base as base

OBJ = base.OBJECT_SIZE
MARKER = b'PLAINTEXT-MARKER-cinder-backup-ext-'


def _marked_volume(size, seed):
    """Random data with a findable marker every 4 KiB."""
    data = bytearray(base.random_bytes(size, seed))
    for offset in range(0, size - len(MARKER), 4096):
        data[offset:offset + len(MARKER)] = MARKER
    return bytes(data)


class EncryptionTestCase(base.DriverTestCase):

    COMPRESSION = 'none'

    def setUp(self):
        super().setUp()
        self.flags(backup_encryption_enabled=True)

    def key_id(self, backup):
        return records.key_id(self.reload(backup))

    def key_bytes(self, backup):
        return keys._manager().get(self.ctxt,
                                   self.key_id(backup)).get_encoded()

    def manifest_document(self, backup):
        with open(os.path.join(self.backup_dir(backup),
                               'manifest.json')) as f:
            return json.load(f)

    def write_manifest_document(self, backup, document):
        document.pop('checksum')
        with open(os.path.join(self.backup_dir(backup), 'manifest.json'),
                  'wb') as f:
            f.write(manifest._dump(document))


class EncryptedRoundTripTest(EncryptionTestCase):

    def test_ciphertext_only_on_the_share(self):
        data = _marked_volume(6 * OBJ, seed=1)
        backup = self.run_backup(data)
        key = self.key_bytes(backup)
        for rel in base.tree_files(self.repo):
            with open(os.path.join(self.repo, rel), 'rb') as f:
                content = f.read()
            self.assertNotIn(MARKER, content, rel)
            for form in (key, key.hex().encode(), base64.b64encode(key)):
                self.assertNotIn(form, content, rel)
        self.assertRestores(backup, data)

    def test_incremental_chain_restores(self):
        data = bytearray(_marked_volume(8 * OBJ, seed=2))
        full = self.run_backup(bytes(data))
        snapshots = [(full, bytes(data))]
        parent = full
        for step in range(2):
            data[step * OBJ + 100:step * OBJ + 5000] = bytes(4900)
            data[5 * OBJ + step:5 * OBJ + step + 7] = b'changed'
            parent = self.run_backup(bytes(data), parent=parent)
            snapshots.append((parent, bytes(data)))
        for backup, expected in snapshots:
            self.assertRestores(backup, expected)
        # Unchanged blocks were recognised through keyed fingerprints.
        self.assertLess(self.data_bytes(snapshots[-1][0]), OBJ)

    def test_one_key_per_backup_and_never_cinders_field(self):
        luks_key = '8d6bd0a2-58a5-4bb5-8b5b-bf1b8a3f7a11'
        volume = self.create_volume(encryption_key_id=luks_key)
        made = []
        for seed in (3, 4):
            # As Cinder's manager does for an encrypted volume: the backup
            # carries its own clone of the volume's key ID.
            backup = self.create_backup_record(volume=volume)
            backup.encryption_key_id = luks_key
            backup.save()
            path = self.write_volume(base.random_bytes(2 * OBJ, seed))
            with open(path, 'rb') as f:
                self.make_driver().backup(backup, f)
            made.append(self.reload(backup))
        self.assertNotEqual(self.key_id(made[0]), self.key_id(made[1]))
        for backup in made:
            self.assertIsNotNone(self.key_id(backup))
            self.assertEqual(luks_key, backup.encryption_key_id)
            self.assertEqual(self.key_id(backup),
                             self.manifest_document(backup)[
                                 'encryption']['key_id'])

    def test_volume_metadata_is_sealed_and_restored(self):
        from cinder_backup_ext.drivers import posix
        name = 'SECRET-VOLUME-NAME-%s' % self.getUniqueString()
        volume = self.create_volume(display_name=name)
        data = base.random_bytes(2 * OBJ, 13)
        backup = self.run_backup(data, volume=volume)
        for rel in base.tree_files(self.repo):
            with open(os.path.join(self.repo, rel), 'rb') as f:
                self.assertNotIn(name.encode(), f.read(), rel)
        put = self.mock_object(posix.PosixBackupDriver, 'put_metadata')
        self.restore_bytes(backup, len(data), True)
        self.assertEqual(1, put.call_count)
        self.assertIn(name, put.call_args[0][1])

    def _read_indexes(self, backup, cipher):
        """The backup's manifest and decoded segment indexes, read with
        cipher (None for a plain backup) as a restore reads them."""
        repo = repository.Repository(posix_store.PosixStore(self.repo))
        location = repository.BackupLocation(backup.container, backup.id,
                                             cipher)

        def read():
            found = repo.read_manifest(location)
            return found, [repo.read_index(location, segment,
                                           len(found.chain))
                           for segment in found.segments]
        # Store I/O belongs on a native thread, as in the driver.
        return concurrency.run_native(read)

    def assertKeyedFingerprints(self, indexes, data, key):
        """Every stored fingerprint is BLAKE3 of its block keyed with key,
        and none is the plain BLAKE3 a reader of the share could match."""
        checked = 0
        for index in indexes:
            for number, start in enumerate(range(
                    index.offset, index.end, index.block_size)):
                block = data[start:min(start + index.block_size, index.end)]
                stored = index.fingerprints[32 * number:32 * number + 32]
                self.assertEqual(blake3.blake3(block, key=key).digest(),
                                 stored, 'block at %d' % start)
                self.assertNotEqual(blake3.blake3(block).digest(), stored,
                                    'block at %d' % start)
                checked += 1
        self.assertEqual(-(-len(data) // base.BLOCK_SIZE), checked)

    def test_fingerprints_are_keyed(self):
        # Zero blocks too: a plain hash of a zero block would show where a
        # volume is empty.
        data = bytearray(base.random_bytes(3 * OBJ, 5) + bytes(OBJ))
        full = self.run_backup(bytes(data))
        master = self.key_bytes(full)
        key = crypto.derive(master, 'fingerprints')
        cipher = crypto.BackupCipher(full.id, self.key_id(full), master)
        found, indexes = self._read_indexes(full, cipher)
        self.assertEqual(full.id, found.fingerprint_key_owner)
        self.assertKeyedFingerprints(indexes, bytes(data), key)

        # A plain incremental of an encrypted backup keeps its fingerprints
        # keyed with the encrypted ancestor's key: its index is readable by
        # anyone, and plain hashes of the unchanged blocks would be hashes
        # of the encrypted backup's plaintext.
        self.flags(backup_encryption_enabled=False)
        data[OBJ:OBJ + 5000] = base.random_bytes(5000, 15)
        plain = self.run_backup(bytes(data), parent=full)
        self.assertIsNone(self.key_id(plain))
        found, indexes = self._read_indexes(plain, None)
        self.assertIsNone(found.encryption)
        self.assertEqual(full.id, found.fingerprint_key_owner)
        self.assertKeyedFingerprints(indexes, bytes(data), key)
        self.assertRestores(plain, bytes(data))


class KeyFailureTest(EncryptionTestCase):

    def test_missing_key_fails_before_writing(self):
        data = base.random_bytes(4 * OBJ, 6)
        backup = self.run_backup(data)
        key_id = self.key_id(backup)
        keys._manager().delete(self.ctxt, key_id)
        target = self.existing_target(len(data))
        before = base.sha256_file(target)
        error = self.assertRaises(exception.BackupKeyError,
                                  self.run_restore, backup, target, False)
        self.assertIn(backup.id, str(error))
        self.assertIn(key_id, str(error))
        self.assertEqual(before, base.sha256_file(target))

    def test_key_manager_outage_leaves_nothing(self):
        self.mock_object(keys._manager(), 'create_key',
                         side_effect=RuntimeError('barbican is down'))
        backup = self.create_backup_record()
        path = self.write_volume(base.random_bytes(2 * OBJ, 7))
        with open(path, 'rb') as f:
            error = self.assertRaises(exception.BackupKeyError,
                                      self.make_driver().backup, backup, f)
        self.assertIn('barbican is down', str(error))
        self.assertEqual([], base.tree_files(self.repo))

    def test_unusable_share_creates_no_key(self):
        # A key made for a backup that cannot be stored would be left in
        # the key manager: the share is tried first.
        create = self.mock_object(keys, 'create_key')
        self.mock_object(
            posix_store.PosixStore, 'put_container',
            side_effect=OSError(errno.EIO, 'server not responding'))
        backup = self.create_backup_record()
        path = self.write_volume(base.random_bytes(2 * OBJ, 7))
        with open(path, 'rb') as f:
            error = self.assertRaises(
                cinder_exception.BackupDriverException,
                self.make_driver().backup, backup, f)
        self.assertIn('server not responding', str(error))
        create.assert_not_called()

    def test_delete_removes_data_then_key(self):
        # A key deleted first would leave data nobody can read, and a
        # failed delete could then never be finished: the data must be
        # gone by the time the key manager is asked to delete the key.
        backup = self.run_backup(base.random_bytes(2 * OBJ, 8))
        key_id = self.key_id(backup)
        manager = keys._manager()
        real_delete = manager.delete
        seen = []

        def delete(context, managed_object_id, *args, **kwargs):
            seen.append((managed_object_id, self.backup_files(backup)))
            return real_delete(context, managed_object_id, *args, **kwargs)
        self.mock_object(manager, 'delete', side_effect=delete)
        self.assertNotEqual([], self.backup_files(backup))
        self.run_delete(backup)
        self.assertEqual([(key_id, [])], seen)
        self.assertEqual([], self.backup_files(backup))
        error = self.assertRaises(
            castellan_exception.ManagedObjectNotFoundError, manager.get,
            self.ctxt, key_id)
        self.assertIn(key_id, str(error))

    def test_undeletable_key_is_reported_and_data_still_deleted(self):
        backup = self.run_backup(base.random_bytes(2 * OBJ, 9))
        key_id = self.key_id(backup)
        self.mock_object(keys._manager(), 'delete',
                         side_effect=RuntimeError('barbican is down'))
        log = self.useFixture(fixtures.FakeLogger(level='ERROR'))
        self.run_delete(backup)
        self.assertEqual([], self.backup_files(backup))
        self.assertIn(key_id, log.output)
        self.assertIn(backup.id, log.output)

    def test_failed_backup_deletes_its_key(self):
        created = []
        real_create = keys.create_key

        def create(context, backup_id):
            created.append(real_create(context, backup_id))
            return created[-1]
        self.mock_object(keys, 'create_key', side_effect=create)
        backup = self.create_backup_record()

        class Broken(object):
            def read(self, size):
                raise IOError('volume read error')
        error = self.assertRaises(cinder_exception.BackupDriverException,
                                  self.make_driver().backup, backup,
                                  Broken())
        self.assertIn(backup.id, str(error))
        self.assertIn('volume read error', str(error))
        self.assertEqual(1, len(created))
        self.assertRaises(castellan_exception.ManagedObjectNotFoundError,
                          keys._manager().get, self.ctxt, created[0])


class TamperingTest(EncryptionTestCase):

    def setUp(self):
        super().setUp()
        self.data = base.random_bytes(4 * OBJ, 10)
        self.backup = self.run_backup(self.data)

    def test_forged_manifest_fails_its_mac(self):
        document = self.manifest_document(self.backup)
        document['stats']['new_bytes'] = 1
        self.write_manifest_document(self.backup, document)
        error = self.assertRaises(exception.BackupCorrupted,
                                  self.restore_bytes, self.backup,
                                  len(self.data), True)
        self.assertIn('MAC', str(error))

    def test_manifest_rewritten_as_plain_is_refused(self):
        document = self.manifest_document(self.backup)
        document.pop('mac')
        document['encryption'] = None
        document['sealed_volume_meta'] = None
        self.write_manifest_document(self.backup, document)
        error = self.assertRaises(exception.BackupCorrupted,
                                  self.restore_bytes, self.backup,
                                  len(self.data), True)
        self.assertIn('database', str(error))

    def test_flipped_byte_in_ciphertext(self):
        path = self.data_objects(self.backup)[1]
        with open(path, 'r+b') as f:
            f.seek(40)
            byte = f.read(1)
            f.seek(40)
            f.write(bytes([byte[0] ^ 1]))
        self.assertRaises(exception.BackupCorrupted, self.restore_bytes,
                          self.backup, len(self.data), True)


class MixedChainTest(EncryptionTestCase):

    def _chain(self, encrypted):
        data = bytearray(base.random_bytes(6 * OBJ, 11))
        parent = None
        made = []
        for step, on in enumerate(encrypted):
            self.flags(backup_encryption_enabled=on)
            data[step * OBJ:step * OBJ + 999] = bytes([step + 1]) * 999
            parent = self.run_backup(bytes(data), parent=parent)
            made.append((parent, bytes(data)))
        for backup, expected in made:
            self.assertRestores(backup, expected)
        return made

    def test_encrypted_plain_encrypted(self):
        made = self._chain([True, False, True])
        full = made[0][0]
        for backup, _data in made[1:]:
            # Keyed by the first encrypted member, so the plain backup's
            # index reveals no plain hash of an encrypted block.
            self.assertEqual(full.id, self.manifest_document(backup)[
                'fingerprint_key'])
        self.assertIsNone(self.key_id(made[1][0]))

    def test_plain_encrypted_plain(self):
        made = self._chain([False, True, False])
        self.assertIsNone(self.manifest_document(made[0][0])[
            'fingerprint_key'])
        for backup, _data in made[1:]:
            self.assertEqual(made[1][0].id, self.manifest_document(backup)[
                'fingerprint_key'])
        # The switch to keyed fingerprints still found unchanged blocks.
        self.assertLess(self.data_bytes(made[1][0]), 2 * OBJ)


class SecretsInLogsTest(EncryptionTestCase):

    def test_no_key_material_in_logs(self):
        log = self.useFixture(fixtures.FakeLogger(level='DEBUG'))
        data = base.random_bytes(3 * OBJ, 12)
        backup = self.run_backup(data)
        self.assertRestores(backup, data)
        path = self.data_objects(backup)[0]
        with open(path, 'r+b') as f:
            f.write(b'\0' * 16)
        self.assertRaises(exception.BackupCorrupted, self.restore_bytes,
                          backup, len(data), True)
        key = self.key_bytes(backup)
        text = log.output
        self.assertIn(backup.id, text)
        for form in (key.hex(), base64.b64encode(key).decode(), repr(key)):
            self.assertNotIn(form, text)
