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

"""PosixBackupDriver: backups as files under one directory.

Owns the repository root (Cinder's backup_posix_path) and its checks; the
engine (ChunkedBackupDriver) does everything else through a PosixStore.
"""

import os

from oslo_config import cfg
from oslo_log import log as logging

from cinder import exception as cinder_exception
from cinder import interface

from cinder_backup_ext.drivers import chunked
from cinder_backup_ext.runtime import concurrency
from cinder_backup_ext.storage import posix as posix_store

LOG = logging.getLogger(__name__)
CONF = cfg.CONF
CONF.import_opt('backup_posix_path', 'cinder.backup.drivers.posix')


@interface.backupdriver
class PosixBackupDriver(chunked.ChunkedBackupDriver):
    """Backup, restore and delete into a POSIX file system."""

    def __init__(self, context, backup_path=None):
        super().__init__(context)
        self.backup_path = backup_path or CONF.backup_posix_path

    def _create_store(self):
        if not self.backup_path:
            raise cinder_exception.ConfigNotFound(path='backup_posix_path')
        return posix_store.PosixStore(self.backup_path)

    def check_for_setup_error(self):
        super().check_for_setup_error()
        path = self.backup_path
        if not path or not os.path.isabs(path):
            raise cinder_exception.InvalidConfigurationValue(
                option='backup_posix_path', value=path)
        try:
            # Off the event loop: the path may be a share that hangs.
            concurrency.run_native(_prepare_root, path)
        except OSError as error:
            LOG.error('backup_posix_path %(path)s is unusable: %(err)s',
                      {'path': path, 'err': error})
            raise cinder_exception.InvalidConfigurationValue(
                option='backup_posix_path', value=path)


def _prepare_root(path):
    if not os.path.isdir(path):
        os.makedirs(path, posix_store.DIR_MODE)
    if not os.access(path, os.W_OK | os.X_OK):
        raise PermissionError('not writable by this service')
