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

"""Encrypted backups with keys in a real Barbican.

First the key services themselves: castellan, configured as cinder.conf
configures it ([key_manager] backend = barbican, [barbican] auth_endpoint
and barbican_endpoint), creates, reads and deletes 256-bit AES keys, and
Barbican enforces who may use them.  Then the driver.

The POSIX driver runs in-process on Cinder's test fixtures, as in
tests/unit/driver_base.py, but castellan talks to the Keystone and Barbican
of tests.functional.keys: [key_manager] backend = barbican and [barbican]
point at them, and the driver gets the request context cinder-backup would
give it, carrying a real token of the backup owner's project.  Volume and
backup records belong to that project.

What is checked comes from outside the library: the share through the file
system, the keys through Barbican's REST API, the record through the
database.
"""

import base64
import binascii
import hashlib
import json
import os
import shutil
import subprocess
import uuid

import blake3
from castellan.common import exception as castellan_exception
from castellan.common.credentials import keystone_password
from castellan.common.objects import symmetric_key
from castellan import key_manager
from cinder import context
from cinder import exception as cinder_exception
from cinder.objects import fields
from cinder.volume import volume_utils
import fixtures
from oslo_context import context as oslo_context
from oslo_utils import units
import testtools
from testtools import content

from cinder_backup_ext import exception
from cinder_backup_ext.sealing import keys
from tests.functional.keys import services
from tests.unit import driver_base as base

OBJ = base.OBJECT_SIZE
SIZE = 16 * OBJ
# A LUKS2 header takes 16 MiB.
LUKS_SIZE = 20 * units.Mi
# What an attacker would look for on the share.
MARKER = b'CINDER-BACKUP-EXT-PLAINTEXT-MARKER'
# backups.service_metadata of this library's format; an encrypted backup
# appends ':' and its key's ID.
FORMAT_MARK = 'cinder_backup_ext:2'
KEY_NAME = 'cinder-backup-ext backup %s'


def marked_bytes(size, seed):
    """Random bytes with MARKER every 512 bytes."""
    data = bytearray(base.random_bytes(size, seed))
    for offset in range(0, size - len(MARKER), 512):
        data[offset:offset + len(MARKER)] = MARKER
    return bytes(data)


def changed(data, seed, every=5):
    """data with one block in every `every` rewritten."""
    data = bytearray(data)
    for number, offset in enumerate(range(0, len(data), base.BLOCK_SIZE)):
        if number % every == seed % every:
            data[offset:offset + base.BLOCK_SIZE] = base.random_bytes(
                base.BLOCK_SIZE, seed * 100003 + number)
    return bytes(data)


def flip_byte(path, offset):
    with open(path, 'r+b') as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x01]))


def canonical_json(document):
    """The canonical form of doc/source/format.rst."""
    return json.dumps(document, sort_keys=True, separators=(',', ':'),
                      ensure_ascii=False).encode('utf-8')


def forge_checksum(document):
    """What anyone who read the format specification can compute."""
    body = {k: v for k, v in document.items() if k != 'checksum'}
    document['checksum'] = blake3.blake3(canonical_json(body)).hexdigest()
    return canonical_json(document) + b'\n'


class BarbicanEncryptionTest(base.DriverTestCase):

    COMPRESSION = 'none'

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Once for the module's only class: starting both services takes
        # up to a minute on a busy machine.
        cls.keys = services.KeyServices()
        cls.keys.setUp()
        # One login for all tests (tokens live an hour): each password
        # login costs Keystone a bcrypt hash.
        try:
            cls.owner = cls.keys.login()
        except Exception:
            cls.keys.cleanUp()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.keys.cleanUp()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.addOnException(self._attach_logs)
        # castellan's API object is built once per process, with the back
        # end configured at that moment: build it afresh for Barbican.
        # (MonkeyPatch would silently add a renamed attribute.)
        self.assertTrue(hasattr(keys, '_api'), 'keys._api is gone')
        self.useFixture(fixtures.MonkeyPatch(
            'cinder_backup_ext.sealing.keys._api', None))
        self.flags(backend='barbican', group='key_manager')
        for name, value in self.keys.barbican_options().items():
            self.override_config(name, value, group='barbican')
        self.flags(backup_encryption_enabled=True)
        # What cinder-backup hands the driver: the request context of the
        # backup's owner, a member (not an admin) of the project.
        self.owner_ctxt = context.RequestContext(
            user_id=self.owner.user_id, project_id=self.owner.project_id,
            auth_token=self.owner.token, roles=['member'], is_admin=False)

    def _attach_logs(self, _exc_info):
        self.addDetail('service-logs',
                       content.text_content(self.keys.log_tails()))

    # Records in the owner's project, driver in the owner's context -------

    def create_volume(self, size_gb=1, **kwargs):
        volume = super().create_volume(size_gb, **kwargs)
        volume.user_id = self.owner.user_id
        volume.project_id = self.owner.project_id
        volume.save()
        return volume

    def create_backup_record(self, volume=None, parent=None, container=None,
                             status=fields.BackupStatus.CREATING):
        backup = super().create_backup_record(volume, parent, container,
                                              status)
        backup.user_id = self.owner.user_id
        backup.project_id = self.owner.project_id
        volume = volume or self.volume
        if volume.encryption_key_id:
            # As Cinder's backup API does for a LUKS volume: the backup
            # gets its own copy of the volume's key.
            backup.encryption_key_id = volume_utils.clone_encryption_key(
                self.owner_ctxt, key_manager.API(), volume.encryption_key_id)
        backup.save()
        return backup

    def make_driver(self, driver_class=None):
        return (driver_class or self.driver_class())(self.owner_ctxt)

    # Looking at keys and the share from outside ---------------------------

    def key_id(self, backup):
        """Our key's ID, from the record; None for a plain backup."""
        metadata = self.reload(backup).service_metadata
        if metadata == FORMAT_MARK:
            return None
        self.assertTrue(metadata.startswith(FORMAT_MARK + ':'),
                        'unexpected service_metadata %r' % metadata)
        return metadata[len(FORMAT_MARK) + 1:]

    def manifest_path(self, backup):
        return os.path.join(self.backup_dir(backup), 'manifest.json')

    def manifest_document(self, backup):
        with open(self.manifest_path(backup), 'rb') as f:
            return json.loads(f.read())

    def repository_files_containing(self, needles):
        """Files anywhere under the repository holding any of needles."""
        found = []
        for rel in base.tree_files(self.repo):
            with open(os.path.join(self.repo, rel), 'rb') as f:
                data = f.read()
            if any(needle in data for needle in needles):
                found.append(rel)
        return found

    def assertRestoreFails(self, backup, error_class, size=SIZE):
        """The restore raises error_class and leaves the target as it was;
        returns the error."""
        path = self.existing_target(size)
        before = base.sha256_file(path)
        error = self.assertRaises(error_class, self.run_restore, backup,
                                  path, False)
        self.assertEqual(before, base.sha256_file(path),
                         'the failed restore wrote to the volume')
        return error

    # The key services, through castellan alone -----------------------------

    def assertKeyRoundTrip(self, credentials):
        manager = key_manager.API(self.keys.castellan_config())
        name = 'cbe-test %s' % uuid.uuid4()
        key_id = manager.create_key(credentials, 'AES', 256, name=name)

        stored = self.keys.secret(key_id, self.owner)
        self.assertEqual((name, 'AES', 256),
                         (stored['name'], stored['algorithm'].upper(),
                          stored['bit_length']))
        key = manager.get(credentials, key_id)
        self.assertIsInstance(key, symmetric_key.SymmetricKey)
        self.assertEqual(('AES', 256), (key.algorithm, key.bit_length))
        self.assertEqual(self.keys.secret_payload(key_id, self.owner),
                         key.get_encoded())

        manager.delete(credentials, key_id)
        self.assertEqual(404, self.keys.secret_status(key_id, self.owner))
        self.assertRaises(castellan_exception.ManagedObjectNotFoundError,
                          manager.get, credentials, key_id)

    def token_context(self, login):
        return oslo_context.RequestContext(auth_token=login.token,
                                           user_id=login.user_id,
                                           project_id=login.project_id)

    def test_castellan_key_round_trip_with_token(self):
        self.assertKeyRoundTrip(self.token_context(self.owner))

    def test_castellan_key_round_trip_with_password(self):
        self.assertKeyRoundTrip(keystone_password.KeystonePassword(
            auth_url=self.keys.keystone.url,
            username=services.OWNER, password=services.OWNER_PASSWORD,
            user_domain_name='Default', project_name=services.OWNER,
            project_domain_name='Default'))

    def test_castellan_refuses_an_invalid_token(self):
        manager = key_manager.API(self.keys.castellan_config())
        forged = self.token_context(self.owner._replace(token='not-a-token'))
        self.assertRaises(castellan_exception.KeyManagerError,
                          manager.create_key, forged, 'AES', 256)

    def test_key_is_private_to_its_project(self):
        manager = key_manager.API(self.keys.castellan_config())
        owner = self.token_context(self.owner)
        key_id = manager.create_key(owner, 'AES', 256)
        self.addCleanup(manager.delete, owner, key_id)
        name = 'cbe-stranger-%s' % uuid.uuid4().hex[:8]
        self.keys.keystone.add_user(name, name, name, ['member'])
        stranger = self.keys.login(name, name, name)
        # Barbican answers 403 for another project's secret.
        self.assertEqual(403, self.keys.secret_status(key_id, stranger))
        self.assertRaises(castellan_exception.CastellanException,
                          manager.get, self.token_context(stranger), key_id)
        self.assertEqual(200, self.keys.secret_status(key_id, self.owner))

    # Confidentiality --------------------------------------------------------

    def test_no_plaintext_and_no_key_on_the_share(self):
        data = marked_bytes(SIZE, 1)
        backup = self.run_backup(data)
        key_id = self.key_id(backup)
        self.assertIsNotNone(key_id, 'the backup was not encrypted')
        key = self.keys.secret_payload(key_id, self.owner)
        self.assertEqual(32, len(key))

        self.assertEqual([], self.repository_files_containing([MARKER]))
        self.assertEqual([], self.repository_files_containing([
            key, binascii.hexlify(key), base64.b64encode(key),
            base64.urlsafe_b64encode(key)]))
        self.assertRestores(backup, data)

        # The same volume backed up without encryption shows the marker:
        # the search above can find it.
        self.flags(backup_encryption_enabled=False)
        plain = self.run_backup(data)
        self.assertIsNone(self.key_id(plain))
        found = self.repository_files_containing([MARKER])
        self.assertNotEqual([], found)
        self.assertEqual(set(found), set(self.backup_files(plain)) &
                         set(found))

    # Restores ---------------------------------------------------------------

    def test_full_and_incremental_chain_restore(self):
        full_data = marked_bytes(SIZE, 2)
        full = self.run_backup(full_data)
        second_data = changed(full_data, 3)
        second = self.run_backup(second_data, parent=full)
        third_data = changed(second_data, 4)
        third = self.run_backup(third_data, parent=second)

        for backup in (full, second, third):
            self.assertIsNotNone(self.key_id(backup))
        # Incrementals store only what changed.
        self.assertLess(self.data_bytes(third), self.data_bytes(full) / 2)
        self.assertRestores(full, full_data)
        self.assertRestores(second, second_data)
        self.assertRestores(third, third_data)

    # Keys -------------------------------------------------------------------

    def test_each_backup_has_its_own_key_in_barbican(self):
        data = marked_bytes(SIZE, 5)
        full = self.run_backup(data)
        incremental = self.run_backup(changed(data, 6), parent=full)
        other = self.run_backup(data)
        backups = (full, incremental, other)

        key_ids = [self.key_id(b) for b in backups]
        self.assertEqual(3, len(set(key_ids)), key_ids)
        materials = set()
        for backup, key_id in zip(backups, key_ids):
            secret = self.keys.secret(key_id, self.owner)
            self.assertEqual((KEY_NAME % backup.id, 'AES', 256),
                             (secret['name'], secret['algorithm'].upper(),
                              secret['bit_length']))
            materials.add(self.keys.secret_payload(key_id, self.owner))
            encryption = self.manifest_document(backup)['encryption']
            self.assertEqual(key_id, encryption['key_id'])
            self.assertEqual('AES-256-GCM', encryption['algorithm'])
            # Cinder's field for the volume's LUKS key stays untouched.
            self.assertIsNone(self.reload(backup).encryption_key_id)
        self.assertEqual(3, len(materials))

    def test_plain_when_encryption_is_off(self):
        self.flags(backup_encryption_enabled=False)
        before = len(self.keys.secret_names(self.owner))
        backup = self.run_backup(marked_bytes(SIZE, 7))
        self.assertIsNone(self.key_id(backup))
        self.assertIsNone(self.manifest_document(backup).get('encryption'))
        self.assertEqual(before, len(self.keys.secret_names(self.owner)))

    # Missing keys -----------------------------------------------------------

    def test_deleted_key_fails_restore_before_writing(self):
        data = marked_bytes(SIZE, 8)
        backup = self.run_backup(data)
        key_id = self.key_id(backup)
        self.keys.delete_secret(key_id, self.owner)

        error = self.assertRestoreFails(backup, exception.BackupKeyError)
        self.assertIn(backup.id, str(error))
        self.assertIn(key_id, str(error))

    def test_deleted_parent_key_fails_incremental_restore_before_writing(
            self):
        data = marked_bytes(SIZE, 9)
        full = self.run_backup(data)
        incremental = self.run_backup(changed(data, 10), parent=full)
        parent_key = self.key_id(full)
        self.keys.delete_secret(parent_key, self.owner)

        error = self.assertRestoreFails(incremental,
                                        exception.BackupKeyError)
        self.assertIn(full.id, str(error))
        self.assertIn(parent_key, str(error))

    # Tampering by someone with write access to the share --------------------

    def tampering_target(self):
        data = marked_bytes(SIZE, 11)
        return data, self.run_backup(data)

    def test_flipped_byte_in_a_data_object(self):
        _data, backup = self.tampering_target()
        objects = self.data_objects(backup)
        self.assertEqual(SIZE // OBJ, len(objects))
        path = objects[len(objects) // 2]
        flip_byte(path, os.path.getsize(path) // 2)
        error = self.assertRaises(exception.BackupCorrupted,
                                  self.restore_bytes, backup, SIZE, True)
        self.assertIn(backup.id, str(error))

    def test_data_objects_swapped(self):
        # Each object is valid ciphertext of this backup, in the wrong
        # place: the associated data binds it to its name and offset.
        _data, backup = self.tampering_target()
        objects = self.data_objects(backup)
        first, second = objects[1], objects[2]
        with open(first, 'rb') as f:
            first_bytes = f.read()
        shutil.copyfile(second, first)
        with open(second, 'wb') as f:
            f.write(first_bytes)
        self.assertRaises(exception.BackupCorrupted, self.restore_bytes,
                          backup, SIZE, True)

    def test_damaged_manifest(self):
        data, backup = self.tampering_target()
        path = self.manifest_path(backup)
        with open(path, 'rb') as f:
            original = f.read()
        flip_byte(path, len(original) // 2)
        self.assertRestoreFails(backup, exception.BackupCorrupted)
        # Put back, it restores: the failure above was the damage.
        with open(path, 'wb') as f:
            f.write(original)
        self.assertRestores(backup, data)

    def test_forged_manifest_with_valid_checksum(self):
        # Someone with write access to the share, who can compute the
        # public checksum but not the keyed MAC, edits the manifest.
        _data, backup = self.tampering_target()
        document = self.manifest_document(backup)
        document['created_at'] = '2000-01-01T00:00:00.000000'
        with open(self.manifest_path(backup), 'wb') as f:
            f.write(forge_checksum(document))
        error = self.assertRestoreFails(backup, exception.BackupCorrupted)
        self.assertIn('MAC', str(error))

    def test_manifest_rewritten_as_plain(self):
        _data, backup = self.tampering_target()
        document = self.manifest_document(backup)
        document['encryption'] = None
        document.pop('mac', None)
        with open(self.manifest_path(backup), 'wb') as f:
            f.write(forge_checksum(document))
        self.assertRestoreFails(backup, exception.BackupCorrupted)

    # Deletion ---------------------------------------------------------------

    def test_delete_removes_data_then_key(self):
        data = marked_bytes(SIZE, 12)
        full = self.run_backup(data)
        incremental = self.run_backup(changed(data, 13), parent=full)
        full_key, incremental_key = self.key_id(full), self.key_id(
            incremental)

        self.run_delete(incremental)
        self.assertEqual([], self.backup_dirs(incremental))
        self.assertEqual(404, self.keys.secret_status(incremental_key,
                                                      self.owner))
        self.assertEqual(200, self.keys.secret_status(full_key, self.owner))
        self.assertRestores(full, data)

        self.run_delete(full)
        self.assertEqual([], self.backup_dirs(full))
        self.assertEqual(404, self.keys.secret_status(full_key, self.owner))

    # Encryption switched on and off within a chain --------------------------

    def assertMixedChain(self, encrypted):
        data = marked_bytes(SIZE, 14)
        chain, contents, parent = [], [], None
        for number, on in enumerate(encrypted):
            self.flags(backup_encryption_enabled=on)
            if number:
                data = changed(data, 15 + number)
            parent = self.run_backup(data, parent=parent)
            chain.append(parent)
            contents.append(data)
        self.assertEqual(list(encrypted),
                         [self.key_id(b) is not None for b in chain])
        for backup, expected in zip(chain, contents):
            self.assertRestores(backup, expected)

    def test_encrypted_plain_encrypted(self):
        self.assertMixedChain((True, False, True))

    def test_plain_encrypted_plain(self):
        self.assertMixedChain((False, True, False))

    # Cinder's encrypted (LUKS) volumes --------------------------------------

    def luks_volume(self):
        """A LUKS2 volume file whose passphrase is a key in Barbican, the
        way Cinder's LUKS volumes are made, and its record."""
        manager = key_manager.API()
        volume_key = manager.create_key(self.owner_ctxt, 'AES', 256)
        passphrase = binascii.hexlify(
            manager.get(self.owner_ctxt, volume_key).get_encoded())
        key_file = os.path.join(self.work, 'passphrase')
        with open(key_file, 'wb') as f:
            f.write(passphrase)
        # The payload area: what the encrypted file system would hold.
        path = self.write_volume(base.random_bytes(LUKS_SIZE, 16),
                                 'luks.img')
        subprocess.run(
            ['cryptsetup', 'luksFormat', '--type', 'luks2', '--batch-mode',
             # Seconds and gigabytes of argon2 buy a test nothing.
             '--pbkdf', 'pbkdf2', '--pbkdf-force-iterations', '1000',
             '--key-file', key_file, path],
            check=True, stdin=subprocess.DEVNULL, capture_output=True,
            timeout=60)
        volume = self.create_volume(encryption_key_id=volume_key)
        return path, key_file, volume

    @testtools.skipUnless(shutil.which('cryptsetup'),
                          'cryptsetup is missing (tools/test-setup.sh)')
    def test_luks_volume_round_trip(self):
        path, key_file, volume = self.luks_volume()
        with open(path, 'rb') as f:
            data = f.read()
        backup = self.run_backup(path, volume=volume)
        backup = self.reload(backup)
        our_key = self.key_id(backup)
        self.assertIsNotNone(our_key, 'a LUKS volume was backed up plain')
        cinder_copy = backup.encryption_key_id
        self.assertIsNotNone(cinder_copy)
        self.assertNotIn(cinder_copy, (our_key, volume.encryption_key_id))

        target = self.new_target(len(data), 'luks-restored.img')
        self.run_restore(backup, target, True)
        self.assertEqual(hashlib.sha256(data).hexdigest(),
                         base.sha256_file(target))
        subprocess.run(['cryptsetup', 'isLuks', target], check=True,
                       timeout=60)
        subprocess.run(['cryptsetup', 'open', '--test-passphrase',
                        '--key-file', key_file, target], check=True,
                       stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=60)
        self.assertEqual(cinder_copy, self.reload(backup).encryption_key_id)

        # Deleting the backup removes our key, not Cinder's copy of the
        # volume's key: that one is the manager's to delete.
        self.run_delete(backup)
        self.assertEqual(404, self.keys.secret_status(our_key, self.owner))
        self.assertEqual(200, self.keys.secret_status(cinder_copy,
                                                      self.owner))

    # Barbican down ----------------------------------------------------------

    def test_barbican_outage(self):
        # One test for the whole outage: restarting Barbican costs seconds.
        data = marked_bytes(SIZE, 17)
        encrypted = self.run_backup(data)
        encrypted_key = self.key_id(encrypted)
        self.flags(backup_encryption_enabled=False)
        plain = self.run_backup(data)
        self.flags(backup_encryption_enabled=True)
        logger = self.useFixture(fixtures.FakeLogger(
            name='cinder_backup_ext', level='ERROR'))
        self.keys.barbican.stop()
        # Later tests need it again, also if this one fails.
        self.addCleanup(self.keys.barbican.start)

        # A new encrypted backup fails with a Cinder exception and leaves
        # nothing that looks like a backup.
        path = self.write_volume(data)
        failed = self.create_backup_record()
        with open(path, 'rb') as f:
            error = self.assertRaises(cinder_exception.CinderException,
                                      self.make_driver().backup, failed, f)
        self.assertIsInstance(error, exception.BackupKeyError)
        self.assertIn(failed.id, str(error))
        self.assertEqual([], self.backup_files(failed))
        self.assertEqual(2, len([rel for rel in base.tree_files(self.repo)
                                 if rel.endswith('manifest.json')]))

        # A restore of an encrypted backup fails before writing anything;
        # plain backups do not need the key manager.
        error = self.assertRestoreFails(encrypted, exception.BackupKeyError)
        self.assertIn(encrypted.id, str(error))
        self.assertIn(encrypted_key, str(error))
        self.assertRestores(plain, data)

        # A delete removes the data and reports the key it could not
        # delete, which outlives the outage for the operator to remove.
        self.run_delete(encrypted)
        self.assertEqual([], self.backup_dirs(encrypted))
        self.assertIn(encrypted.id, logger.output)
        self.assertIn(encrypted_key, logger.output)
        self.keys.barbican.start()
        self.assertEqual(200, self.keys.secret_status(encrypted_key,
                                                      self.owner))
