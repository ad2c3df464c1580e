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

"""Deleting backups, and moving their records out of and back into Cinder.

Export and import follow cinder-backup: the record is the backup object
encoded with the driver's export_record() output, and import revives the
soft-deleted row, hands the driver its driver_info and then copies the
record's fields back, as the API and the manager do.
"""

import json
import os

from cinder import exception
from cinder import objects
from cinder.objects import fields

from tests.unit import driver_base as base

OBJ = base.OBJECT_SIZE
BLK = base.BLOCK_SIZE


def edit(data, offset, new):
    return data[:offset] + new + data[offset + len(new):]


class DeleteTest(base.DriverTestCase):

    def _file_hashes(self, backup):
        return {rel: base.sha256_file(os.path.join(self.repo, rel))
                for rel in self.backup_files(backup)}

    def _assert_gone(self, backup):
        self.assertEqual([], self.backup_files(backup))
        for directory in self.backup_dirs(backup):
            self.assertEqual([], base.tree_files(directory), directory)

    def test_delete_removes_every_file(self):
        backup = self.run_backup(base.random_bytes(10 * OBJ, seed=120))
        self.assertNotEqual([], self.backup_files(backup))
        self.run_delete(backup)
        self._assert_gone(backup)

    def test_delete_leaves_other_backups_alone(self):
        first = base.random_bytes(6 * OBJ, seed=121)
        second = base.random_bytes(6 * OBJ, seed=122)
        b1 = self.run_backup(first)
        b2 = self.run_backup(self.write_volume(second, 'b.img'),
                             volume=self.create_volume())
        kept = self._file_hashes(b2)
        self.run_delete(b1)
        self._assert_gone(b1)
        self.assertEqual(kept, self._file_hashes(b2))
        self.assertRestores(b2, second)

    def test_delete_newest_incremental_keeps_older_restorable(self):
        v0 = base.random_bytes(12 * OBJ, seed=123)
        v1 = edit(v0, 2 * OBJ, bytes(OBJ))
        v2 = edit(v1, 2 * OBJ + BLK, base.random_bytes(3 * BLK, seed=124))
        full = self.run_backup(v0)
        i1 = self.run_backup(v1, parent=full)
        i2 = self.run_backup(v2, parent=i1)
        kept = {**self._file_hashes(full), **self._file_hashes(i1)}
        self.run_delete(i2)
        self._assert_gone(i2)
        self.assertEqual(kept, {**self._file_hashes(full),
                                **self._file_hashes(i1)})
        self.assertRestores(full, v0)
        self.assertRestores(i1, v1)

    def test_delete_whole_chain_newest_first(self):
        v0 = base.random_bytes(8 * OBJ, seed=125)
        chain = [self.run_backup(v0)]
        for i in range(3):
            chain.append(self.run_backup(
                edit(v0, i * OBJ, base.random_bytes(BLK, seed=126 + i)),
                parent=chain[-1]))
        for backup in reversed(chain):
            self.run_delete(backup)
            self._assert_gone(backup)
        self.assertEqual([], base.tree_files(self.repo))

    def test_delete_of_a_backup_that_stored_nothing(self):
        # A backup that failed before writing anything is still deleted by
        # the manager; the driver must not fail on it.
        backup = self.create_backup_record(status=fields.BackupStatus.ERROR)
        self.run_delete(backup)
        self.assertEqual([], base.tree_files(self.repo))

    def test_delete_twice(self):
        # A retried delete (the manager crashed half-way) must succeed.
        backup = self.run_backup(base.random_bytes(4 * OBJ, seed=129))
        self.make_driver().delete_backup(self.reload(backup))
        self.run_delete(backup)
        self._assert_gone(backup)

    def test_delete_after_partial_damage(self):
        # Deleting must work exactly when a backup is broken: that is when
        # an operator wants it gone.
        backup = self.run_backup(base.random_bytes(6 * OBJ, seed=130))
        directory = self.backup_dir(backup)
        os.unlink(os.path.join(directory, 'manifest.json'))
        self.run_delete(backup)
        self._assert_gone(backup)


class ExportImportTest(base.DriverTestCase):

    def _export(self, backup):
        backup = self.reload(backup)
        driver_info = self.make_driver().export_record(backup)
        # The record crosses the API as JSON.
        json.dumps(driver_info)
        return backup.encode_record(driver_info=driver_info)

    def _forget(self, backup):
        backup = self.reload(backup)
        backup.destroy()

    def _import(self, backup_url):
        record = objects.Backup.decode_record(backup_url)
        ctxt = self.ctxt.elevated(read_deleted='yes')
        backup = objects.BackupImport.get_by_id(ctxt, record['id'],
                                                project_only=False)
        # Cinder's manager calls import_record on a placeholder before it
        # copies the record's fields in (after a database loss there is no
        # old row to revive): the driver must rely on driver_info alone.
        backup.update({'status': fields.BackupStatus.CREATING,
                       'deleted_at': None, 'deleted': False,
                       'metadata': {}, 'container': None,
                       'service_metadata': None})
        backup.save()
        options = dict(record)
        driver_info = options.pop('driver_info', {})
        self.make_driver().import_record(backup, driver_info)
        for key in ('name', 'user_id', 'project_id', 'deleted_at',
                    'deleted', 'fail_reason', 'status', 'parent'):
            options.pop(key, None)
        backup.update(options)
        backup.status = fields.BackupStatus.AVAILABLE
        backup.save()
        return objects.Backup.get_by_id(self.ctxt, record['id'])

    def test_full_backup_survives_export_and_import(self):
        data = base.random_bytes(8 * OBJ, seed=140)
        backup = self.run_backup(data)
        url = self._export(backup)
        self._forget(backup)
        imported = self._import(url)
        self.assertEqual(backup.id, imported.id)
        self.assertRestores(imported, data)

    def test_chain_survives_export_and_import(self):
        v0 = base.random_bytes(8 * OBJ, seed=141)
        v1 = edit(v0, 3 * OBJ, bytes(2 * OBJ))
        v2 = edit(v1, 3 * OBJ + BLK, base.random_bytes(BLK, seed=142))
        chain = [self.run_backup(v0)]
        chain.append(self.run_backup(v1, parent=chain[-1]))
        chain.append(self.run_backup(v2, parent=chain[-1]))
        urls = [self._export(b) for b in chain]
        for backup in reversed(chain):
            self._forget(backup)
        imported = [self._import(url) for url in urls]
        for backup, data in zip(imported, (v0, v1, v2)):
            self.assertRestores(backup, data)

    def test_record_without_data_is_refused(self):
        backup = self.run_backup(base.random_bytes(4 * OBJ, seed=146))
        url = self._export(backup)
        self._forget(backup)
        os.unlink(os.path.join(self.backup_dir(backup), 'manifest.json'))
        error = self.assertRaises(exception.InvalidBackup, self._import, url)
        self.assertIn('manifest.json', str(error))
        self.assertIn('missing', str(error))

    def test_imported_backup_can_be_deleted(self):
        backup = self.run_backup(base.random_bytes(4 * OBJ, seed=143))
        url = self._export(backup)
        self._forget(backup)
        imported = self._import(url)
        self.run_delete(imported)
        self.assertEqual([], self.backup_files(imported))

    def test_imported_backup_accepts_incrementals(self):
        v0 = base.random_bytes(8 * OBJ, seed=144)
        full = self.run_backup(v0)
        url = self._export(full)
        self._forget(full)
        imported = self._import(url)
        v1 = edit(v0, OBJ, base.random_bytes(BLK, seed=145))
        incr = self.run_backup(v1, parent=imported)
        self.assertRestores(incr, v1)
