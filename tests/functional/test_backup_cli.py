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

"""Backups through the openstack CLI against a real Cinder.

A stack of real services (stack_case.StackCase) runs the driver under
test; volumes are sparse files, written and hashed by the tests directly.
BackupCliTests holds the tests; a class that mixes them in names the
stack, so every stack shape runs all of them (test_production_stack runs
them against the NFS driver with Barbican in two backup services).
"""

import threading

import testtools

from tests.functional import stack_case
from tests.functional.stack import cinder_stack
from tests.functional.stack import openstack_cli

MiB = stack_case.MiB
GiB = stack_case.GiB
_pattern = stack_case.pattern


class BackupCliTests(stack_case.StackCase):
    """The tests; mixed into a testtools.TestCase with one stack per class."""

    BACKUP_DRIVER = cinder_stack.POSIX_DRIVER
    BACKUP_OPTIONS = {}
    EXTRA_CONFIG = {}

    @classmethod
    def make_stack(cls):
        return cinder_stack.CinderStack(
            backup_driver=cls.BACKUP_DRIVER,
            backup_options=cls.BACKUP_OPTIONS,
            extra_config=cls.EXTRA_CONFIG)

    # --- tests ---

    def test_full_backup_restore_to_new_volume_and_delete(self):
        volume_id = self.new_volume()
        self.fill(volume_id, 1)
        before = self.digest(volume_id)
        backup = self.backup(volume_id)
        self.assertFalse(backup['is_incremental'])
        self.assertEqual(1, backup['size'])
        self.assertEqual(volume_id, backup['volume_id'])
        self.assertNotEqual([], self.files_of(backup['id']))
        # The source volume is untouched and available again.
        self.assertEqual(before, self.digest(volume_id))
        self.cli.wait_for_status('volume', volume_id, 'available')

        restored_id = self.restore_to_new_volume(backup['id'])
        self.assertEqual(before, self.digest(restored_id))

        self.delete_backup(backup['id'])
        self.assertEqual([], self.files_of(backup['id']))

    def test_incremental_chain_restores_each_point_in_time(self):
        volume_id = self.new_volume()
        self.fill(volume_id, 2)
        states = [self.digest(volume_id)]
        full = self.backup(volume_id)
        self.write(volume_id, 300 * MiB + 12345, _pattern(77, 2 * MiB))
        states.append(self.digest(volume_id))
        incr1 = self.backup(volume_id, '--incremental')
        self.write(volume_id, 700 * MiB, _pattern(78, MiB))
        self.write(volume_id, 0, bytes(3 * MiB))  # data back to zeros
        states.append(self.digest(volume_id))
        incr2 = self.backup(volume_id, '--incremental')

        self.assertTrue(incr1['is_incremental'])
        self.assertTrue(incr2['is_incremental'])
        self.assertTrue(self.cli.openstack(
            'volume', 'backup', 'show', full['id'])['has_dependent_backups'])
        for backup, state in zip((full, incr1, incr2), states):
            self.assertEqual(state,
                             self.digest(self.restore_to_new_volume(
                                 backup['id'])),
                             'restore of %s' % backup['name'])

        # Cinder refuses to delete a backup that others depend on.
        self.assertRaises(openstack_cli.CommandFailed,
                          self.cli.openstack_no_output, 'volume', 'backup',
                          'delete', full['id'])
        for backup in (incr2, incr1, full):
            self.delete_backup(backup['id'])
            self.assertEqual([], self.files_of(backup['id']))

    def test_restore_onto_existing_volume(self):
        source_id = self.new_volume()
        self.fill(source_id, 3)
        expected = self.digest(source_id)
        backup = self.backup(source_id)
        target_id = self.new_volume()
        self.fill(target_id, 4)
        self.write(target_id, 900 * MiB, _pattern(99, MiB))
        self.assertNotEqual(expected, self.digest(target_id))

        # Restoring onto an existing volume needs --force in the CLI.
        self.assertRaises(openstack_cli.CommandFailed, self.cli.openstack,
                          'volume', 'backup', 'restore', backup['id'],
                          target_id)
        self.cli.openstack('volume', 'backup', 'restore', '--force',
                           backup['id'], target_id)
        self.cli.wait_for_status('volume backup', backup['id'], 'available')
        self.cli.wait_for_status('volume', target_id, 'available')
        self.assertEqual(expected, self.digest(target_id))

    def test_backup_of_in_use_volume_needs_force(self):
        volume_id = self.new_volume()
        self.fill(volume_id, 5)
        expected = self.digest(volume_id)
        self.attach(volume_id)
        error = self.assertRaises(
            openstack_cli.CommandFailed, self.cli.create_backup, volume_id,
            self.getUniqueString('backup'))
        self.assertIn('force', error.output.lower())

        # With --force Cinder backs up a temporary clone of the volume.
        backup = self.backup(volume_id, '--force')
        self.cli.wait_for_status('volume', volume_id, 'in-use')
        self.assertEqual(expected,
                         self.digest(self.restore_to_new_volume(
                             backup['id'])))

    def test_export_and_import_record_after_database_loss(self):
        volume_id = self.new_volume()
        self.fill(volume_id, 6)
        expected = self.digest(volume_id)
        backup = self.backup(volume_id)
        record = self.export_record(backup['id'])
        self.assertEqual(self.BACKUP_DRIVER, record['backup_service'])

        # What export/import is for: the database lost the backup, the
        # repository still has it.
        self.stack.postgres.psql(
            'cinder',
            "DELETE FROM backup_metadata WHERE backup_id = '{id}'; "
            "DELETE FROM backups WHERE id = '{id}'".format(id=backup['id']))
        self.assertRaises(openstack_cli.CommandFailed, self.cli.openstack,
                          'volume', 'backup', 'show', backup['id'])

        out = self.import_record(record)
        self.assertIn(backup['id'], out)
        self.cli.wait_for_status('volume backup', backup['id'], 'available')
        self.assertEqual(expected,
                         self.digest(self.restore_to_new_volume(
                             backup['id'])))
        self.delete_backup(backup['id'])
        self.assertEqual([], self.files_of(backup['id']))

    def test_import_of_record_without_data_fails(self):
        volume_id = self.new_volume()
        self.fill(volume_id, 7)
        backup = self.backup(volume_id)
        record = self.export_record(backup['id'])
        self.delete_backup(backup['id'])
        self.import_record(record)
        # The driver checks that the data is there; Cinder marks the
        # record as failed.
        shown = self.cli.wait_for_status('volume backup', backup['id'],
                                         'error', failed=())
        self.addCleanup(self._delete_quietly, 'volume backup', backup['id'])
        self.assertEqual('error', shown['status'])

    def test_delete_during_running_backup_cancels_it(self):
        # 3 GiB of incompressible data: long enough to be caught running.
        volume_id = self.new_volume(size_gb=4)
        block = _pattern(8, 64 * MiB)
        with open(self.stack.volume_path(volume_id), 'r+b') as f:
            for _ in range(48):
                f.write(block)
        backup_id = self.cli.create_backup(volume_id,
                                           self.getUniqueString('backup'))
        self.addCleanup(self._delete_quietly, 'volume backup', backup_id)
        self.assertEqual('creating',
                         self.cli.show('volume backup', backup_id)['status'])
        # Cinder deletes a creating backup only with --force, and only if
        # the driver says it supports that.
        self.delete_backup(backup_id, '--force')
        self.cli.wait_for_status('volume', volume_id, 'available')
        logs = ''
        for path in self.stack.backup_log_files():
            with open(path) as log:
                logs += log.read()
        self.assertIn('Backup %s was cancelled' % backup_id, logs)
        self.assertEqual([], self.files_of(backup_id))

        # Nothing is left stuck: the volume backs up as usual.
        self.backup(volume_id)

    def test_two_backups_at_once(self):
        volumes = [self.new_volume(), self.new_volume()]
        for seed, volume_id in enumerate(volumes, 10):
            self.fill(volume_id, seed)
        expected = [self.digest(v) for v in volumes]
        backup_ids = [None, None]

        def start(index):
            backup_ids[index] = self.cli.create_backup(
                volumes[index], self.getUniqueString('backup'))
        # Both requests reach cinder-backup before either backup ends.
        threads = [threading.Thread(target=start, args=(i,))
                   for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(openstack_cli.COMMAND_TIMEOUT)
        self.assertNotIn(None, backup_ids)
        for backup_id in backup_ids:
            self.addCleanup(self._delete_quietly, 'volume backup', backup_id)
        for backup_id in backup_ids:
            self.cli.wait_for_status('volume backup', backup_id, 'available')
        for backup_id, digest in zip(backup_ids, expected):
            self.assertEqual(digest, self.digest(
                self.restore_to_new_volume(backup_id)))


class PosixBackupCliTest(stack_case.StackCase, testtools.TestCase):
    """The POSIX driver in a real cinder-backup: one incremental chain.

    The whole set of CLI tests runs against the production-shaped stack
    (test_production_stack), whose NFS driver is the POSIX driver on a
    mounted share; this proves the POSIX driver's own configuration in
    the real service.
    """

    test_incremental_chain_restores_each_point_in_time = \
        BackupCliTests.test_incremental_chain_restores_each_point_in_time
