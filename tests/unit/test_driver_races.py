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

"""Races between a backup being written and deletes of it or its parent.

Each interleaving is forced deterministically: the second operation runs
from a hook at the exact step where the race window is, instead of from a
thread that may or may not hit it.
"""

import os

import fixtures
import testtools

from cinder import exception
from cinder.objects import fields

from cinder_backup_ext import exception as ext_exception
from cinder_backup_ext.repository import manifest
from cinder_backup_ext.repository import repository
from cinder_backup_ext.storage import memory
from cinder_backup_ext.storage import posix
from tests.unit import driver_base as base

OBJ = base.OBJECT_SIZE
VOLUME_SIZE = 8 * OBJ


def _manifests(root):
    return [rel for rel in base.tree_files(root)
            if rel.endswith('manifest.json')]


class ParentChildTest(base.DriverTestCase):

    def setUp(self):
        super().setUp()
        self.data = base.random_bytes(VOLUME_SIZE, seed=500)
        self.full = self.run_backup(self.data)

    def _files(self, backup):
        return {rel: base.sha256_file(os.path.join(self.repo, rel))
                for rel in self.backup_files(backup)}

    def test_delete_refuses_a_backup_with_an_incremental(self):
        # As if Cinder's API check had run before the incremental existed.
        child = self.run_backup(self.data, parent=self.full)
        before = self._files(self.full)
        full = self.reload(self.full)
        full.status = fields.BackupStatus.DELETING
        full.save()
        error = self.assertRaises(exception.InvalidBackup,
                                  self.make_driver().delete_backup, full)
        self.assertIn(child.id, str(error))
        self.assertIn('delete them first', str(error))
        self.assertEqual(before, self._files(self.full))
        self.assertRestores(child, self.data)

    def test_an_incremental_still_being_written_counts_too(self):
        child = self.create_backup_record(parent=self.full)
        full = self.reload(self.full)
        error = self.assertRaises(exception.InvalidBackup,
                                  self.make_driver().delete_backup, full)
        self.assertIn(child.id, str(error))
        self.assertRestores(self.full, self.data)

    def test_delete_goes_ahead_once_the_children_are_deleted(self):
        child = self.run_backup(self.data, parent=self.full)
        self.run_delete(child)
        self.run_delete(self.full)
        self.assertEqual([], base.tree_files(self.repo))

    def _incremental_while_parent(self, change):
        """Run an incremental; change(parent record) runs in the middle of
        reading the volume."""
        changed = bytearray(self.data)
        changed[:OBJ] = base.random_bytes(OBJ, seed=501)
        path = self.write_volume(bytes(changed), 'changed.img')
        child = self.create_backup_record(parent=self.full)
        done = []

        def on_read(hooked):
            if not done and hooked.bytes_read >= 4 * OBJ:
                done.append(True)
                change(self.reload(self.full))

        with open(path, 'rb') as f:
            self.make_driver().backup(
                child, base.HookedFile(f, on_read=on_read))
        self.assertEqual([True], done)
        return child, bytes(changed)

    def test_incremental_fails_if_its_parent_is_deleted_meanwhile(self):
        before = self._files(self.full)

        def deleting(parent):
            parent.status = fields.BackupStatus.DELETING
            parent.save()
        error = self.assertRaises(exception.InvalidBackup,
                                  self._incremental_while_parent, deleting)
        self.assertIn(self.full.id, str(error))
        self.assertIn('status deleting', str(error))
        child_dirs = [d for d in base.tree_files(self.repo)
                      if self.full.id not in d]
        self.assertEqual([], child_dirs)
        self.assertEqual(before, self._files(self.full))

    def test_incremental_fails_if_its_parent_record_is_gone(self):
        error = self.assertRaises(exception.InvalidBackup,
                                  self._incremental_while_parent,
                                  lambda parent: parent.destroy())
        self.assertIn('was deleted while this incremental', str(error))
        self.assertEqual([], [d for d in base.tree_files(self.repo)
                              if self.full.id not in d])

    def test_a_restore_of_the_parent_meanwhile_is_no_reason_to_fail(self):
        def restoring(parent):
            parent.status = fields.BackupStatus.RESTORING
            parent.save()
        child, changed = self._incremental_while_parent(restoring)
        self.assertRestores(child, changed)


class DeleteDuringManifestTest(base.DriverTestCase):
    """A delete that runs after the writer's last status check."""

    def test_delete_before_the_manifest_is_written_cancels_it(self):
        data = base.random_bytes(VOLUME_SIZE, seed=510)
        backup = self.create_backup_record()
        driver = self.make_driver()
        get_metadata = driver.get_metadata
        deleted = []

        def delete_first(volume_id):
            # The writer's last status check has passed; its next steps
            # are the volume's metadata and the manifest.  The API's
            # delete lands now and cinder-backup runs it to the end.
            record = self.reload(backup)
            record.status = fields.BackupStatus.DELETING
            record.save()
            self.make_driver().delete_backup(record)
            deleted.append(True)
            return get_metadata(volume_id)

        driver.get_metadata = delete_first
        with open(self.write_volume(data), 'rb') as f:
            # Returns as a cancelled backup does.
            driver.backup(backup, f)
        self.assertEqual([True], deleted)
        self.assertEqual([], _manifests(self.repo))
        self.assertEqual([], base.tree_files(self.repo))


class _HookedStore(posix.PosixStore):
    """Runs after_list once, right after a listing."""

    after_list = None

    def list_objects(self, container, prefix=''):
        names = super().list_objects(container, prefix)
        hook, self.after_list = self.after_list, None
        if hook:
            hook()
        return names


class ManifestPlaceholderTest(testtools.TestCase):
    """The same race one storage step at a time, on a real file system."""

    def setUp(self):
        super().setUp()
        self.repo = self.useFixture(fixtures.TempDir()).path
        self.store = _HookedStore(self.repo)
        self.repo_api = repository.Repository(self.store)
        self.location = repository.BackupLocation('backups', 'b-1',
                                                  object_size=OBJ)
        self.repo_api.prepare(self.location)
        self.reservation = self.repo_api.reserve_manifest(self.location)
        for number in range(3):
            self.repo_api.write_data(self.location, number, 'zstd',
                                     base.random_bytes(OBJ, seed=number))
        self.manifest = manifest.Manifest('b-1', 'volume', ['b-1'], None, 0,
                                          base.BLOCK_SIZE, OBJ, [])

    def _commit(self):
        self.repo_api.write_manifest(self.location, self.manifest,
                                     self.reservation)

    def test_manifest_written_while_the_delete_lists_is_removed_too(self):
        # The writer commits after the delete's first manifest removal
        # and its listing: the manifest is not in the list.
        self.store.after_list = self._commit
        self.repo_api.delete(self.location)
        self.assertIsNone(self.store.after_list)
        self.assertEqual([], _manifests(self.repo))
        self.assertEqual([], base.tree_files(self.repo))

    def test_manifest_after_the_objects_went_is_refused(self):
        objects = self.store.list_objects(self.location.directory)
        self.store.delete_objects(self.location.directory, objects)
        self.assertRaises(ext_exception.BackupDeletedMeanwhile, self._commit)
        self.assertEqual([], _manifests(self.repo))

    def test_manifest_after_the_whole_delete_is_refused(self):
        self.repo_api.delete(self.location)
        self.assertRaises(ext_exception.BackupDeletedMeanwhile, self._commit)
        self.assertEqual([], base.tree_files(self.repo))

    def test_a_commit_run_again_after_it_landed_is_success(self):
        # What a failover replays when the first rename reached the
        # server but its reply did not.
        self._commit()
        self._commit()
        self.assertEqual(1, len(_manifests(self.repo)))
        self.assertEqual(self.manifest.backup_id, self.repo_api.read_manifest(
            self.location).backup_id)

    def test_the_placeholder_is_hidden_from_readers(self):
        self.assertFalse(self.repo_api.has_manifest(self.location))
        self.assertTrue(any(posix.TEMP_MARK in name for name in
                            self.store.list_objects('backups')))


class MemoryStorePlaceholderTest(testtools.TestCase):

    def test_commit_needs_its_placeholder(self):
        store = memory.MemoryStore()
        first = store.reserve_object('c', 'm')
        store.commit_object('c', 'm', first, b'one')
        self.assertEqual(b'one', store.get_object('c', 'm'))
        second = store.reserve_object('c', 'm')
        store.delete_objects('c', store.list_objects('c'))
        self.assertRaises(ext_exception.ObjectNotFound, store.commit_object,
                          'c', 'm', second, b'two')
        self.assertFalse(store.exists('c', 'm'))
