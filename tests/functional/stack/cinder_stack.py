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
        self.backup_options = dict(backup_options or {})
        self.extra_config = {section: dict(options) for section, options
                             in (extra_config or {}).items()}
        self.keystone_factory = keystone_factory
        self.keystone = None
        # What a subclass's start_dependencies() may set for the cinder
        # services: several backup hosts, a wrapper of their command line,
        # more environment, cinder-volume's back end, more to import.
        self.backup_hosts = None
        self.backup_launcher = None
        self.service_env = {}
        self.volume_backend = None
        self.python_path = []

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
        self.start_dependencies()
        self.cinder = self.useFixture(cinder_services.CinderServices(
            self.work_dir, self.log_dir,
            self.postgres.create_database('cinder'),
            self.rabbitmq.transport_url, self.backup_driver,
            backup_options=self.backup_options,
            extra_config=self.extra_config, keystone=self.keystone,
            backup_hosts=self.backup_hosts,
            backup_launcher=self.backup_launcher, env=self.service_env,
            volume_backend=self.volume_backend,
            python_path=self.python_path))

    def start_dependencies(self):
        """Start more servers before the cinder services (a subclass's
        hook); backup_options and extra_config may still change here."""

    @property
    def backup_dir(self):
        return self.cinder.backup_dir

    def volume_path(self, volume_id):
        return self.cinder.volume_path(volume_id)

    def backup_log_files(self):
        """The log file of every cinder-backup service."""
        return [os.path.join(self.log_dir, name + '.log')
                for name in self.cinder.backup_service_names]

    def log_tails(self, names=None, lines=40):
        names = names or (list(self.cinder.backup_service_names) +
                          ['cinder-volume'])
        return ''.join(procs.log_tail(os.path.join(self.log_dir, n + '.log'),
                                      lines) for n in names)

    def cli_env(self):
        """Environment for the openstack command: noauth, or the admin's
        password with Keystone."""
        if self.keystone:
            return self.keystone_cli_env()
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

    def keystone_cli_env(self):
        env = self._clean_env()
        env.update(self.keystone.cli_credentials())
        env['OS_VOLUME_API_VERSION'] = '3.64'
        return env

    def cinder_cli_env(self):
        """Environment for the cinder command (its own noauth plugin)."""
        if self.keystone:
            return self.keystone_cli_env()
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
