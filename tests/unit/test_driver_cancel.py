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

"""Cancellation through the backup's status, as cinder-backup signals it.

A force-delete sets a running backup's status to 'deleting'; resetting a
backup's status during a restore takes it out of 'restoring'.  The status is
changed in the database while the driver is reading or writing the volume,
the way another cinder process would change it.  After the change every
read or write is slowed down, so the rest of the volume takes a few seconds
as a large volume would: a driver may poll its status at a bounded rate
rather than before every object, and is prompt if it stops well before the
end of the volume.
"""

import shutil

from cinder import exception
from cinder.objects import fields

from tests.unit import driver_base as base

OBJ = base.OBJECT_SIZE
BLK = base.BLOCK_SIZE
VOLUME_SIZE = 64 * OBJ
# Per read or write once the status has changed: 64 objects would take
# over six seconds, so a stop within a second or two reads under half.
PACE = 0.1


class BackupCancelTest(base.DriverTestCase):

    def _cancel_backup_after(self, bytes_before_flip, status, parent=None,
                             data=None):
        data = data or base.random_bytes(VOLUME_SIZE, seed=100)
        path = self.write_volume(data)
        backup = self.create_backup_record(parent=parent)
        flip = base.StatusFlip(self.ctxt, backup.id, status)
        self.addCleanup(flip.stop)

        def on_read(hooked):
            if flip.fired:
                flip.pace(PACE)
            elif hooked.bytes_read >= bytes_before_flip:
                flip.fire()

        driver = self.make_driver()
        with open(path, 'rb') as f:
            hooked = base.HookedFile(f, on_read=on_read)
            try:
                driver.backup(backup, hooked)
            except exception.CinderException:
                # Raising is as good as returning: either way the manager
                # goes on with the delete it was asked for.
                pass
        self.assertTrue(flip.fired, 'the status was never changed')
        return backup, hooked

    def _assert_nothing_stored(self, backup):
        self.assertEqual([], self.backup_files(backup))
        manifests = [rel for rel in base.tree_files(self.repo)
                     if rel.endswith('manifest.json')
                     and backup.id in rel]
        self.assertEqual([], manifests)

    def test_deleting_status_stops_backup_and_cleans_up(self):
        backup, hooked = self._cancel_backup_after(
            4 * OBJ, fields.BackupStatus.DELETING)
        self._assert_nothing_stored(backup)
        # Prompt: far from the whole volume is read after the signal.
        self.assertLess(hooked.bytes_read, VOLUME_SIZE // 2)

    def test_cancelled_backup_leaves_no_files_at_all(self):
        # Debris would make the repository look as if it held data nobody
        # can restore or delete.
        self._cancel_backup_after(4 * OBJ, fields.BackupStatus.DELETING)
        self.assertEqual([], base.tree_files(self.repo))

    def test_deleted_status_stops_backup(self):
        backup, hooked = self._cancel_backup_after(
            4 * OBJ, fields.BackupStatus.DELETED)
        self._assert_nothing_stored(backup)
        self.assertLess(hooked.bytes_read, VOLUME_SIZE // 2)

    def test_cancelled_incremental_leaves_parent_intact(self):
        data = base.random_bytes(VOLUME_SIZE, seed=101)
        full = self.run_backup(data)
        before = {rel: base.sha256_file(self.repo + '/' + rel)
                  for rel in base.tree_files(self.repo)}
        changed = base.random_bytes(VOLUME_SIZE, seed=102)
        incr, hooked = self._cancel_backup_after(
            4 * OBJ, fields.BackupStatus.DELETING, parent=full, data=changed)
        self._assert_nothing_stored(incr)
        after = {rel: base.sha256_file(self.repo + '/' + rel)
                 for rel in base.tree_files(self.repo)}
        self.assertEqual(before, after)
        self.assertRestores(full, data)


class ConcurrentDeleteTest(base.DriverTestCase):
    """cinder-backup runs a delete while the backup is still written."""

    def test_files_removed_under_a_running_backup_mean_cancel(self):
        data = base.random_bytes(VOLUME_SIZE, seed=120)
        path = self.write_volume(data)
        backup = self.create_backup_record()
        flip = base.StatusFlip(self.ctxt, backup.id,
                               fields.BackupStatus.DELETING)
        self.addCleanup(flip.stop)

        def on_read(hooked):
            if not flip.fired and hooked.bytes_read >= 8 * OBJ:
                flip.fire()
                # What the concurrent delete_backup does: the files go,
                # before the writer looks at the status again.
                for directory in self.backup_dirs(backup):
                    shutil.rmtree(directory)

        with open(path, 'rb') as f:
            # Returns like a cancelled backup; the manager then finishes
            # the delete it was asked for.
            self.make_driver().backup(
                backup, base.HookedFile(f, on_read=on_read))
        self.assertTrue(flip.fired)
        self.assertEqual([], self.backup_files(backup))


class RestoreCancelTest(base.DriverTestCase):

    def _restore_with_flip(self, volume_is_new, status, writes_before_flip=2):
        data = base.random_bytes(VOLUME_SIZE, seed=110)
        backup = self.run_backup(data)
        if volume_is_new:
            target = self.new_target(len(data))
        else:
            target = self.existing_target(len(data))
        flip = base.StatusFlip(self.ctxt, backup.id, status)
        self.addCleanup(flip.stop)

        def on_write(hooked):
            if flip.fired:
                flip.pace(PACE)
            elif hooked.writes >= writes_before_flip:
                flip.fire()

        def wrap(f):
            self.hooked = base.HookedFile(f, on_write=on_write)
            return self.hooked

        self.assertRaises(exception.BackupRestoreCancel, self.run_restore,
                          backup, target, volume_is_new, wrap=wrap)
        self.assertTrue(flip.fired)
        # Prompt: the restore stops well before the end of the volume.
        self.assertLess(self.hooked.bytes_written, len(data) // 2)
        return backup

    def test_available_cancels_restore_to_new_volume(self):
        self._restore_with_flip(True, fields.BackupStatus.AVAILABLE)

    def test_available_cancels_restore_to_existing_volume(self):
        self._restore_with_flip(False, fields.BackupStatus.AVAILABLE)

    def test_error_cancels_restore(self):
        self._restore_with_flip(False, fields.BackupStatus.ERROR)

    def test_cancelled_restore_leaves_backup_restorable(self):
        backup = self._restore_with_flip(False, fields.BackupStatus.AVAILABLE)
        data = base.random_bytes(VOLUME_SIZE, seed=110)
        self.assertRestores(backup, data)

    def test_restore_refuses_to_start_outside_restoring(self):
        # The manager sets 'restoring' first; any other status means the
        # restore was called off before it began.
        data = base.random_bytes(2 * OBJ, seed=111)
        backup = self.run_backup(data)
        self.assertEqual(fields.BackupStatus.AVAILABLE, backup.status)
        target = self.existing_target(len(data))
        garbage = base.sha256_file(target)
        with open(target, 'r+b') as f:
            self.assertRaises(exception.BackupRestoreCancel,
                              self.make_driver().restore, backup,
                              self.target_volume.id, f, False)
        self.assertEqual(garbage, base.sha256_file(target))
