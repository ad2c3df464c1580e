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

"""NFSBackupDriver: the POSIX driver on an NFS share with several addresses.

Owns the NFS options (Cinder's own: backup_share, backup_mount_point_base,
backup_mount_options, backup_mount_attempts) and their checks, and plugs a
FailoverStore over the mounted share into the engine.  Mounting, failover
and the share's identity live in remotefs and share; the engine does not
know that its files are on NFS.
"""

import functools
import os

from oslo_concurrency import lockutils
from oslo_config import cfg
from oslo_log import log as logging

from cinder import exception as cinder_exception
from cinder import interface
from cinder import utils as cinder_utils

from cinder_backup_ext.drivers import chunked
from cinder_backup_ext.drivers import posix
from cinder_backup_ext.nfs import remotefs
from cinder_backup_ext.nfs import share
from cinder_backup_ext.storage import failover

LOG = logging.getLogger(__name__)
CONF = cfg.CONF
# Cinder's own NFS backup options, same names and meanings; Cinder's
# module registers them, so an existing cinder.conf keeps working.
for _option in ('backup_share', 'backup_mount_point_base',
                'backup_mount_options', 'backup_mount_attempts'):
    CONF.import_opt(_option, 'cinder.backup.drivers.nfs')


@interface.backupdriver
class NFSBackupDriver(posix.PosixBackupDriver):
    """Backups on an NFS share reached through one or more addresses."""

    def __init__(self, context):
        # Cinder builds a driver per operation: nothing is mounted here.
        self._addresses = None
        try:
            self._addresses = remotefs.parse_share(CONF.backup_share)
        except remotefs.ShareError:
            pass  # reported by check_for_setup_error and on use
        path = None
        if self._addresses and CONF.backup_mount_point_base:
            path = remotefs.mount_point(CONF.backup_mount_point_base,
                                        self._addresses[0].path)
        super().__init__(context, backup_path=path)

    @staticmethod
    def get_driver_options():
        # Cinder lists its own NFS options; ours are the engine's.
        return chunked.ChunkedBackupDriver.get_driver_options()

    def check_for_setup_error(self):
        """Check the configuration only.

        Cinder's manager calls this once at start-up and, if it raises,
        keeps the service down for good; a share that is merely
        unreachable now must not do that, so nothing is mounted here.
        """
        chunked.ChunkedBackupDriver.check_for_setup_error(self)
        self._parse_share()
        base = CONF.backup_mount_point_base
        if not base or not os.path.isabs(base):
            raise cinder_exception.InvalidConfigurationValue(
                option='backup_mount_point_base', value=base)

    def _parse_share(self):
        try:
            return remotefs.parse_share(CONF.backup_share)
        except remotefs.ShareError as error:
            LOG.error('backup_share %(value)r: %(err)s',
                      {'value': CONF.backup_share, 'err': error})
            raise cinder_exception.InvalidConfigurationValue(
                option='backup_share', value=CONF.backup_share)

    def _create_store(self):
        addresses = self._parse_share()
        mounts = remotefs.ExportMounts(
            addresses, CONF.backup_mount_point_base,
            CONF.backup_mount_options, cinder_utils.get_root_helper())
        order = remotefs.preferred_order(addresses, CONF.host)
        # A mount is this host's business: a lock in this host's lock_path,
        # not Cinder's coordination back end, which with etcd would make
        # every host's mounts wait for each other.
        host_lock = functools.partial(
            lockutils.lock, 'nfs-mount-%s' % os.path.basename(mounts.path),
            lock_file_prefix='cinder-backup-ext-', external=True)
        connection = share.ShareConnection(
            mounts, order, CONF.backup_mount_attempts, host_lock)
        return failover.FailoverStore(
            connection,
            max_recoveries=len(addresses) * CONF.backup_mount_attempts)
