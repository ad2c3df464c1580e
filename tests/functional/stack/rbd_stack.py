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

"""RBDStack: Cinder on Ceph RBD, backing up to NFS with our driver.

A CinderStack with Keystone whose cinder-volume runs Cinder's own
cinder.volume.drivers.rbd.RBDDriver on a throwaway single-node Ceph
cluster (stack.ceph), and whose cinder-backup runs NFSBackupDriver on an
nfs-ganesha export, in a mount namespace of its own with the stand-in NFS
client.  cinder-backup reads and writes the volumes through os-brick's RBD
connector, as on a Ceph cloud.  cephx is off and rbd_user unset, so that
os-brick finds no keyring to look for (Cinder sends none).
"""

import os
import sys

from tests.functional import nfs_fixtures
from tests.functional.stack import ceph
from tests.functional.stack import cinder_stack
from tests.functional.stack import keystone
from tests.functional.stack import procs
from tests.functional.stack import production
from tests.functional.stack import tool_venv

BACKEND = 'ceph'


class RBDStack(cinder_stack.CinderStack):

    def __init__(self):
        super().__init__(
            backup_driver=production.NFS_DRIVER,
            keystone_factory=lambda work_dir, log_dir, postgres:
                keystone.Keystone(work_dir, log_dir, postgres,
                                  tool_venv.ensure()))

    def start_dependencies(self):
        reason = nfs_fixtures.missing_prerequisites() or ceph.missing()
        if reason:
            raise procs.StackError(reason)
        self.ceph = self.useFixture(ceph.CephCluster(self.work_dir,
                                                     self.log_dir))
        self.export_dir = os.path.join(self.work_dir, 'export')
        os.makedirs(self.export_dir)
        [address] = nfs_fixtures.free_loopback_addresses(1)
        self.ganesha = self.useFixture(nfs_fixtures.GaneshaServer(
            self.work_dir, address, self.export_dir,
            production.EXPORT_PATH))
        self.nfs_client = self.useFixture(
            nfs_fixtures.StandinClient(self.work_dir))
        self.backup_hosts = ['rbd-backup']
        self.backup_launcher = lambda host, argv: self.nfs_client.wrap(argv)
        self.service_env = self.nfs_client.env()
        self.python_path = [self.ceph.python_path]
        self.backup_options.update({
            'backup_share': '%s:%s' % (address, production.EXPORT_PATH),
            'backup_mount_point_base': os.path.join(self.work_dir, 'mnt'),
            'backup_mount_options': production.MOUNT_OPTIONS,
        })
        self.volume_backend = (BACKEND, {
            'volume_driver': 'cinder.volume.drivers.rbd.RBDDriver',
            'rbd_pool': ceph.POOL,
            'rbd_ceph_conf': self.ceph.conf,
            'rbd_flatten_volume_from_snapshot': 'false',
            'report_discard_supported': 'true',
        })

    def _setUp(self):
        super()._setUp()
        self.keystone.add_service('block-storage',
                                  self.cinder.endpoint + '/%(project_id)s')

    @property
    def backup_dir(self):
        return self.export_dir

    # --- the volumes' images, behind Cinder's back ----------------------

    def image_name(self, volume_id):
        return 'volume-%s' % volume_id

    def rbd_module(self):
        """librbd's Python binding (with rados), importable here."""
        if self.ceph.python_path not in sys.path:
            sys.path.insert(0, self.ceph.python_path)
        import rados
        import rbd
        return rados, rbd
