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

"""StackCase: one stack of real services per test class, and the CLI.

Mixed into a testtools.TestCase.  make_stack() says which stack
(CinderStack or a subclass); it starts once for the class, and tests
drive it through the ``openstack`` and ``cinder`` commands as a user
would.  Volumes are sparse files that the tests write and hash directly.
"""

import hashlib
import os

from tests import checksums
from tests.functional.stack import cinder_stack
from tests.functional.stack import openstack_cli

MiB = 1024 * 1024
GiB = 1024 * MiB


def pattern(seed, size):
    """size bytes of data that does not compress within a MiB, different
    for every seed."""
    block = hashlib.shake_256(b'cinder-backup-ext %d' % seed).digest(MiB)
    return (block * (size // MiB + 1))[:size]


class StackCase(object):

    @classmethod
    def make_stack(cls):
        return cinder_stack.CinderStack()

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.stack = cls.make_stack()
        # A failed setUp has already stopped what it started.
        cls.stack.setUp()
        cls.cli = openstack_cli.OpenStackCLI(cls.stack)

    @classmethod
    def tearDownClass(cls):
        cls.stack.cleanUp()
        super().tearDownClass()

    def new_volume(self, size_gb=1):
        volume = self.cli.create_volume(self.getUniqueString('vol'), size_gb)
        self.addCleanup(self._delete_quietly, 'volume', volume['id'])
        return volume['id']

    def _delete_quietly(self, kind, resource_id):
        try:
            self.cli.openstack_no_output(*(kind.split() + [
                'delete', resource_id]))
        except openstack_cli.CommandFailed:
            pass

    def write(self, volume_id, offset, data):
        with open(self.stack.volume_path(volume_id), 'r+b') as f:
            f.seek(offset)
            f.write(data)

    def fill(self, volume_id, seed):
        """Data in a few places of a 1 GiB volume, zeros elsewhere."""
        for i, offset in enumerate((0, 5 * MiB + 4096, 300 * MiB,
                                    GiB - 3 * MiB)):
            self.write(volume_id, offset, pattern(seed * 10 + i, 3 * MiB))
        self.write(volume_id, 600 * MiB, b'compressible text. ' * 100000)

    def digest(self, volume_id):
        path = self.stack.volume_path(volume_id)
        return os.path.getsize(path), checksums.sha256_file(path)

    def backup(self, volume_id, *options):
        backup = self.cli.backup_volume(
            volume_id, self.getUniqueString('backup'), *options)
        self.addCleanup(self._delete_quietly, 'volume backup', backup['id'])
        return backup

    def restore_to_new_volume(self, backup_id):
        name = self.getUniqueString('restored')
        restored = self.cli.openstack('volume', 'backup', 'restore',
                                      backup_id, name)
        volume_id = restored['volume_id']
        self.addCleanup(self._delete_quietly, 'volume', volume_id)
        self.cli.wait_for_status('volume backup', backup_id, 'available')
        self.cli.wait_for_status('volume', volume_id, 'available')
        return volume_id

    def delete_backup(self, backup_id, *options):
        self.cli.openstack_no_output('volume', 'backup', 'delete',
                                     *(list(options) + [backup_id]))
        self.cli.wait_until_gone('volume backup', backup_id)

    def export_record(self, backup_id):
        record = self.cli.openstack('volume', 'backup', 'record', 'export',
                                    backup_id)
        # The column names differ between client versions.
        return {k.lower().replace(' ', '_'): v for k, v in record.items()}

    def import_record(self, record):
        # With the cinder command: openstackclient 10.5's "volume backup
        # record import" posts to /backups/export_record and gets a 404.
        return self.cli.cinder('backup-import', record['backup_service'],
                               record['backup_url'])

    def stored_files(self):
        """Every file in the backup repository, relative to its root."""
        found = []
        for root, _dirs, files in os.walk(self.stack.backup_dir):
            found.extend(os.path.relpath(os.path.join(root, name),
                                         self.stack.backup_dir)
                         for name in files)
        return found

    def files_of(self, backup_id):
        return [f for f in self.stored_files() if backup_id in f]

    def attach(self, volume_id):
        """Attach the volume as a compute host would, through the cinder
        command (openstackclient would look the server up in nova)."""
        out = self.cli.cinder(
            '--os-volume-api-version', '3.44', 'attachment-create',
            '--connect', 'True', '--host', 'cbe-test-host', '--ip',
            '127.0.0.1', '--initiator', 'iqn.2026-01.test:cbe', volume_id,
            '8c1c8d3e-95ab-4e1f-9a1f-0c7d3d4c2a10')
        attachment_id = [line.split('|')[2].strip()
                         for line in out.splitlines()
                         if line.startswith('| id ')][0]
        self.addCleanup(self.cli.wait_for_status, 'volume', volume_id,
                        'available')
        # Not attachment-delete: Cinder then notifies nova, which this
        # cloud has no catalog entry for.
        self.addCleanup(self.cli.cinder, 'reset-state', '--state',
                        'available', '--attach-status', 'detached',
                        volume_id)
        self.cli.cinder('--os-volume-api-version', '3.44',
                        'attachment-complete', attachment_id)
        self.cli.wait_for_status('volume', volume_id, 'in-use')
