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

"""ProductionStack: the shape operators run, on one machine.

A CinderStack with Keystone, plus:

- Barbican, the key manager of every cinder service
  (``backup_encryption_enabled = true``);
- etcd, the coordination back end of every cinder service and of the
  operator tools (``[coordination] backend_url = etcd3+http://...``);
- one export served by two nfs-ganesha servers on two loopback addresses,
  listed together in ``backup_share``;
- two cinder-backup services with different host names, both running
  NFSBackupDriver, each in a mount namespace of its own (as on two
  machines) with the stand-in NFS client when the kernel has none.  The
  host names are chosen so that each host prefers a different address.

Everything is stopped by PID.  Set CBE_KEEP_STACK=1 to keep the work
directory (configuration, logs, the export) after the tests.
"""

import os

import requests

from cinder_backup_ext.nfs import remotefs
from tests.functional.keys import barbican_server
from tests.functional.keys import service_venv
from tests.functional import nfs_fixtures
from tests.functional.stack import cinder_stack
from tests.functional.stack import etcd
from tests.functional.stack import keystone
from tests.functional.stack import procs
from tests.functional.stack import tool_venv

NFS_DRIVER = 'cinder_backup_ext.drivers.nfs.NFSBackupDriver'
EXPORT_PATH = '/backups'
# A soft mount whose calls fail with EIO 3 s after a server stops
# answering (timeo is in tenths of a second), as doc/source/nfs.rst
# recommends.
MOUNT_OPTIONS = 'vers=4.1,soft,timeo=30,retrans=0'


def missing_prerequisites():
    """Why this stack cannot run here, or None."""
    return nfs_fixtures.missing_prerequisites() or etcd.missing()


def host_preferring(addresses, address, prefix='backup-host-'):
    """A backup host name whose preferred address is address."""
    for n in range(1000):
        name = '%s%d' % (prefix, n)
        if remotefs.preferred_order(addresses, name)[0] == address:
            return name
    raise AssertionError('no host name prefers %s' % address)


class ProductionStack(cinder_stack.CinderStack):

    def __init__(self, backup_options=None):
        super().__init__(
            backup_driver=NFS_DRIVER, backup_options=backup_options,
            keystone_factory=lambda work_dir, log_dir, postgres:
                keystone.Keystone(work_dir, log_dir, postgres,
                                  tool_venv.ensure()))

    def start_dependencies(self):
        reason = missing_prerequisites()
        if reason:
            raise procs.StackError(reason)
        self.etcd = self.useFixture(etcd.Etcd(self.work_dir, self.log_dir))
        self.barbican = self.useFixture(barbican_server.Barbican(
            self.work_dir, self.log_dir, service_venv.ensure(),
            self.keystone))
        self.keystone.add_service('key-manager', self.barbican.url)
        self.export_dir = os.path.join(self.work_dir, 'export')
        os.makedirs(self.export_dir)
        self.ganesha = [
            self.useFixture(nfs_fixtures.GaneshaServer(
                self.work_dir, address, self.export_dir, EXPORT_PATH))
            for address in nfs_fixtures.free_loopback_addresses(2)]
        self.addresses = [remotefs.Address(server.address, EXPORT_PATH)
                          for server in self.ganesha]
        self.share = ','.join(a.share for a in self.addresses)
        self.backup_hosts = [host_preferring(self.addresses, address)
                             for address in self.addresses]
        self.nfs_client = self.useFixture(
            nfs_fixtures.StandinClient(self.work_dir))
        self.backup_launcher = lambda host, argv: self.nfs_client.wrap(argv)
        self.service_env = self.nfs_client.env()
        options = {
            'backup_share': self.share,
            'backup_mount_point_base': os.path.join(self.work_dir, 'mnt'),
            'backup_mount_options': MOUNT_OPTIONS,
            'backup_encryption_enabled': 'true',
            # A stopped backup host shows as down within seconds, and the
            # API then sends its restores to the other host.
            'service_down_time': '10',
            # The load test holds a dozen volumes and backups at once.
            'quota_volumes': '50',
            'quota_gigabytes': '1000',
            'quota_backups': '50',
            'quota_backup_gigabytes': '1000',
        }
        options.update(self.backup_options)
        self.backup_options = options
        self.extra_config.setdefault('coordination', {})['backend_url'] = \
            self.etcd.backend_url
        self.extra_config.setdefault('key_manager', {})['backend'] = \
            'barbican'
        self.extra_config.setdefault('barbican', {}).update({
            'auth_endpoint': self.keystone.url,
            'barbican_endpoint': self.barbican.url,
        })

    def _setUp(self):
        super()._setUp()
        self.keystone.add_service('block-storage',
                                  self.cinder.endpoint + '/%(project_id)s')
        self.tools_conf = self.write_tools_conf(keystone.ADMIN_PASSWORD)

    def write_tools_conf(self, password, name='tools.conf'):
        """What an operator adds to cinder.conf for the tools: the key
        manager credentials they read backup keys with (the CLI's admin,
        in whose project the tests' backups are)."""
        path = os.path.join(self.cinder.etc_dir, name)
        with open(path, 'w') as f:
            f.write('[key_manager]\nauth_type = keystone_password\n'
                    'auth_url = %s\nusername = admin\npassword = %s\n'
                    'user_domain_name = Default\nproject_name = admin\n'
                    'project_domain_name = Default\n'
                    % (self.keystone.url, password))
        return path

    # --- what the tests look at ------------------------------------------

    @property
    def backup_dir(self):
        """The repository: the export's directory, as the servers see
        it."""
        return self.export_dir

    def server_of(self, address):
        """The ganesha serving address (a remotefs.Address or a host)."""
        host = getattr(address, 'host', address)
        return [s for s in self.ganesha if s.address == host][0]

    def mounted_address(self, host):
        """The address backup host host has mounted now, or None."""
        pid = self.cinder.backup_service(host).process.pid
        base = self.backup_options['backup_mount_point_base']
        point = remotefs.mount_point(base, EXPORT_PATH)
        with open('/proc/%d/mounts' % pid) as f:
            for line in f:
                fields = line.split()
                if len(fields) > 1 and fields[1] == point:
                    return remotefs.parse_address(fields[0])
        return None

    def backup_pid(self, host):
        return self.cinder.backup_service(host).process.pid

    def tool_argv(self, *args, tools_conf=None):
        """The operator tool as an operator runs it on a backup host:
        with the services' cinder.conf and the tools' credentials, in a
        mount namespace of its own."""
        return self.nfs_client.wrap(
            [os.path.join(cinder_stack.cinder_services.VENV_BIN,
                          'cinder-backup-ext')] + list(args) +
            ['--config-file', self.cinder.conf_file,
             '--config-file', tools_conf or self.tools_conf])

    # --- Barbican, behind the driver's back ------------------------------

    def secrets(self):
        """{key ID: name} of every secret of the admin's project."""
        headers = {'X-Auth-Token': self.keystone.admin_token()}
        found = {}
        url = self.barbican.url + '/v1/secrets?limit=100'
        while url:
            resp = requests.get(url, headers=headers, timeout=30)
            resp.raise_for_status()
            page = resp.json()
            for secret in page['secrets']:
                found[secret['secret_ref'].rsplit('/', 1)[-1]] = \
                    secret['name']
            url = page.get('next')
        return found

    def set_backup_service_disabled(self, host, disabled):
        """Disable or enable host's cinder-backup service.  Not through
        the API: Cinder 29.0.0's os-services disable and enable answer
        success but save the service unchanged."""
        self.postgres.psql(
            'cinder', "UPDATE services SET disabled = %s WHERE host = '%s' "
            "AND topic = 'cinder-backup'" % (
                'true' if disabled else 'false', host))

    def backup_record(self, backup_id):
        """(host, service_metadata, status, fail_reason) of the backup's
        row, deleted or not."""
        out = self.postgres.psql(
            'cinder', "SELECT host, service_metadata, status, fail_reason "
            "FROM backups WHERE id = '%s'" % backup_id)
        return tuple(field or None
                     for field in out.strip().split('|', 3))
