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

"""CinderStack: PostgreSQL, RabbitMQ and the four cinder services.

One fixture for a whole test class (it takes 10-20 s to start).  Another
backup driver's tests reuse it with their own driver and options::

    CinderStack(backup_driver='cinder_backup_ext.drivers.nfs.'
                'NFSBackupDriver',
                backup_options={'backup_share': '127.0.0.1:/export'})

Set CBE_KEEP_STACK=1 to keep the work directory (configuration, logs,
volumes, backups) after the tests.
"""

import os
import shutil
import tempfile

import fixtures

from tests.functional.stack import cinder_services
from tests.functional.stack import postgres
from tests.functional.stack import procs
from tests.functional.stack import rabbitmq

POSIX_DRIVER = 'cinder_backup_ext.drivers.posix.PosixBackupDriver'


class CinderStack(fixtures.Fixture):

    def __init__(self, backup_driver=POSIX_DRIVER, backup_options=None,
                 extra_config=None, keystone_factory=None):
        """keystone_factory(work_dir, log_dir, postgres) -> a Keystone
        fixture, for a stack that authenticates with Keystone tokens."""
        super().__init__()
        self.backup_driver = backup_driver
        self.backup_options = backup_options
        self.extra_config = extra_config
        self.keystone_factory = keystone_factory
        self.keystone = None

    def _setUp(self):
        if os.getuid() != 0:
            # initdb as the postgres user and os-brick's privsep helper
            # both need root.
            raise procs.StackError('the cinder stack needs root')
        # Short: PostgreSQL's socket path must fit in sun_path.
        self.work_dir = tempfile.mkdtemp(prefix='cbe-stack-')
        os.chmod(self.work_dir, 0o755)
        if not os.environ.get('CBE_KEEP_STACK'):
            self.addCleanup(shutil.rmtree, self.work_dir, True)
        self.log_dir = os.path.join(self.work_dir, 'logs')
        os.makedirs(self.log_dir)
        self.postgres = self.useFixture(
            postgres.PostgreSQL(self.work_dir, self.log_dir))
        self.rabbitmq = self.useFixture(
            rabbitmq.RabbitMQ(self.work_dir, self.log_dir))
        if self.keystone_factory:
            self.keystone = self.useFixture(self.keystone_factory(
                self.work_dir, self.log_dir, self.postgres))
        self.cinder = self.useFixture(cinder_services.CinderServices(
            self.work_dir, self.log_dir,
            self.postgres.create_database('cinder'),
            self.rabbitmq.transport_url, self.backup_driver,
            backup_options=self.backup_options,
            extra_config=self.extra_config, keystone=self.keystone))

    @property
    def backup_dir(self):
        return self.cinder.backup_dir

    def volume_path(self, volume_id):
        return self.cinder.volume_path(volume_id)

    def log_tails(self, names=('cinder-backup', 'cinder-volume'), lines=40):
        return ''.join(procs.log_tail(os.path.join(self.log_dir, n + '.log'),
                                      lines) for n in names)

    def cli_env(self):
        """Environment for the openstack command (noauth)."""
        env = self._clean_env()
        env.update({
            # openstackclient against noauth: the token is user:project.
            # Its version discovery sends no token; the stack's paste
            # filter fills one in.
            'OS_AUTH_TYPE': 'admin_token',
            'OS_TOKEN': cinder_services.NOAUTH_TOKEN,
            'OS_ENDPOINT': self.cinder.endpoint,
            'OS_VOLUME_API_VERSION': '3.64',
        })
        return env

    def cinder_cli_env(self):
        """Environment for the cinder command (its own noauth plugin)."""
        env = self._clean_env()
        env.update({
            'OS_AUTH_TYPE': 'noauth',
            'CINDER_ENDPOINT': self.cinder.endpoint,
            'OS_PROJECT_ID': cinder_services.NOAUTH_PROJECT,
            'OS_USER_ID': 'admin',
            'OS_VOLUME_API_VERSION': '3.64',
        })
        return env

    @staticmethod
    def _clean_env():
        # A developer's own cloud credentials must not leak into the tests.
        return {k: v for k, v in os.environ.items()
                if not k.startswith(('OS_', 'CINDER_'))}
