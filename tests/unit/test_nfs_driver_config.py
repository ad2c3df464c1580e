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

"""NFSBackupDriver's configuration checks, on Cinder's test fixtures."""

from oslo_concurrency import processutils

from cinder import context
from cinder import exception as cinder_exception
from cinder.tests.unit import test

from cinder_backup_ext.drivers import nfs
from cinder_backup_ext import exception
from cinder_backup_ext.nfs import remotefs
from cinder_backup_ext.storage import failover


class NFSDriverConfigTest(test.TestCase):

    def setUp(self):
        super().setUp()
        self.ctxt = context.get_admin_context()
        self.flags(backup_share='10.0.0.1:/backups,10.0.0.2:/backups',
                   backup_mount_point_base='/var/lib/cinder/backup_mount',
                   backup_mount_options='vers=4.1',
                   backup_mount_attempts=2)
        # Nothing in these tests may mount or run a command.
        self.execute = self.mock_object(
            remotefs.remotefs.RemoteFsClient, '_execute')

    def assertRefused(self, option):
        error = self.assertRaises(
            cinder_exception.InvalidConfigurationValue,
            nfs.NFSBackupDriver(self.ctxt).check_for_setup_error)
        self.assertIn(option, str(error))

    def test_valid_configuration(self):
        nfs.NFSBackupDriver(self.ctxt).check_for_setup_error()
        self.execute.assert_not_called()

    def test_missing_share(self):
        self.flags(backup_share=None)
        self.assertRefused('backup_share')

    def test_different_exports(self):
        self.flags(backup_share='10.0.0.1:/backups,10.0.0.2:/elsewhere')
        self.assertRefused('backup_share')

    def test_malformed_share(self):
        self.flags(backup_share='fd00::1:/backups')
        self.assertRefused('backup_share')

    def test_relative_mount_point_base(self):
        self.flags(backup_mount_point_base='mnt')
        self.assertRefused('backup_mount_point_base')

    def test_engine_options_are_still_checked(self):
        self.flags(backup_object_size=5000)
        self.assertRefused('backup_object_size')

    def test_nothing_is_mounted_before_use(self):
        driver = nfs.NFSBackupDriver(self.ctxt)
        store = driver.store
        self.assertIsInstance(store, failover.FailoverStore)
        self.execute.assert_not_called()
        self.assertEqual(
            remotefs.mount_point('/var/lib/cinder/backup_mount', '/backups'),
            driver.backup_path)

    def test_unreachable_share_fails_the_operation_not_the_service(self):
        self.execute.side_effect = processutils.ProcessExecutionError(
            stderr='mount.nfs: Connection timed out', exit_code=32)
        self.mock_object(remotefs._ExportClient, 'mounted_source',
                         return_value=None)
        self.flags(backup_mount_attempts=1)
        driver = nfs.NFSBackupDriver(self.ctxt)
        driver.check_for_setup_error()
        error = self.assertRaises(exception.ShareUnavailable,
                                  driver.store.list_objects, 'backups')
        self.assertIn('10.0.0.1:/backups', str(error))
        self.assertIn('10.0.0.2:/backups', str(error))
