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

"""The golden repositories restore byte for byte through the driver.

tests/format/golden holds backups written once, by this library and by
Cinder's own driver (tests/format/golden/README.rst).  Each test copies one
into a temporary repository, creates the database records the backups had,
restores every backup into a new and into an existing volume, and compares
the SHA-256 recorded when it was written.  A failure here means the code no
longer reads what it once wrote: fix the code, never the golden files.
"""

import os

from cinder_backup_ext.drivers import posix
from cinder_backup_ext import exception
from cinder_backup_ext.sealing import keys
from tests.format import fixtures
from tests.format import records
from tests.format import spec_reader
from tests.unit import driver_base as base


class GoldenTestCase(base.DriverTestCase):

    def install(self, name):
        """Copy golden repository name into the test's repository and
        create its records; return them by backup ID."""
        fixtures.copy_repository(name, self.repo)
        created = {}
        for record in fixtures.backups(name):
            created[record['id']] = records.create_backup(
                self.ctxt, record['id'], self.volume.id,
                parent_id=record['parent_id'], container=record['container'],
                service_metadata=record['service_metadata'])
        return created

    def use_test_keys(self):
        self.mock_object(keys, '_manager', return_value=(
            fixtures.FixedKeyManager(fixtures.load_test_keys())))

    def first_data_object(self, name, backup_id):
        """Path of the full backup's first data object in the copy."""
        if name == fixtures.CINDER:
            record = fixtures.backups(name)[0]
            return os.path.join(self.repo, record['container'],
                                record['service_metadata'] + '-00001')
        record = [r for r in fixtures.backups(name) if r['id'] == backup_id][0]
        return os.path.join(
            self.repo, spec_reader.backup_directory(record['container'],
                                                    record['id']),
            'data', '00000', '00000000')


class GoldenRestoreTest(GoldenTestCase):

    def assertGoldenRestores(self, name):
        created = self.install(name)
        self.assertEqual(2, len(created))
        for record in fixtures.backups(name):
            for volume_is_new in (True, False):
                got = self.restore_bytes(created[record['id']],
                                         record['size'], volume_is_new)
                self.assertEqual(
                    record['sha256'], got,
                    '%s: backup %s (volume_is_new=%s) restores other bytes '
                    'than it was made of' % (name, record['id'],
                                             volume_is_new))

    def test_plain_chain(self):
        self.assertGoldenRestores(fixtures.PLAIN)

    def test_encrypted_chain_with_its_test_keys(self):
        self.use_test_keys()
        self.assertGoldenRestores(fixtures.ENCRYPTED)

    def test_cinder_chain(self):
        self.assertGoldenRestores(fixtures.CINDER)

    def test_volume_metadata_of_each_kind(self):
        # The plain manifest holds it as it is, the encrypted one sealed,
        # Cinder's metadata file as Cinder wrote it.
        self.use_test_keys()
        put = self.mock_object(posix.PosixBackupDriver, 'put_metadata')
        for name in fixtures.REPOSITORIES:
            created = self.install(name)
            newest = fixtures.backups(name)[-1]
            put.reset_mock()
            self.restore_bytes(created[newest['id']], newest['size'], True)
            self.assertEqual(1, put.call_count, name)
            self.assertIn('golden volume', put.call_args[0][1])

    def test_encrypted_chain_needs_its_key(self):
        created = self.install(fixtures.ENCRYPTED)
        test_keys = fixtures.load_test_keys()
        test_keys[sorted(test_keys)[0]] = bytes(32)
        self.mock_object(keys, '_manager', return_value=(
            fixtures.FixedKeyManager(test_keys)))
        newest = fixtures.backups(fixtures.ENCRYPTED)[-1]
        self.assertRaises(exception.BackupCorrupted, self.restore_bytes,
                          created[newest['id']], newest['size'], True)


class GoldenCorruptionTest(GoldenTestCase):
    """One flipped byte in a copy of a golden data object is refused by
    the driver and by the standalone reader alike."""

    def _flip_and_check(self, name):
        self.use_test_keys()
        created = self.install(name)
        full, newest = fixtures.backups(name)
        path = self.first_data_object(name, full['id'])
        with open(path, 'r+b') as f:
            f.seek(os.path.getsize(path) // 2)
            byte = f.read(1)
            f.seek(-1, os.SEEK_CUR)
            f.write(bytes([byte[0] ^ 0x01]))
        object_name = os.path.basename(path)
        for record in (full, newest):
            error = self.assertRaises(
                exception.BackupCorrupted, self.restore_bytes,
                created[record['id']], record['size'], True)
            self.assertIn(object_name, str(error))
            chain = spec_reader_chain(name, record['id'])
            error = self.assertRaises(
                spec_reader.FormatError, spec_reader.restore, self.repo,
                chain, os.path.join(self.work, 'spec.img'))
            self.assertIn(object_name, str(error))

    def test_plain(self):
        self._flip_and_check(fixtures.PLAIN)

    def test_encrypted(self):
        self._flip_and_check(fixtures.ENCRYPTED)

    def test_cinder(self):
        self._flip_and_check(fixtures.CINDER)


def spec_reader_chain(name, backup_id):
    """What the standalone reader is given from the database: the chain
    of a golden backup, newest first, with its keys."""
    test_keys = fixtures.load_test_keys()
    chain = []
    for record in fixtures.chain_of(name, backup_id):
        chain.append(spec_reader.Member.from_record(
            record['id'], record['container'], record['service_metadata'],
            test_keys))
    return chain
