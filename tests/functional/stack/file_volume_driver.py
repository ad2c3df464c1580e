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

"""A test-only Cinder volume driver: each volume is a sparse file.

It returns ``driver_volume_type: local`` connection info, so cinder-backup
attaches volumes for real through os-brick's LocalConnector and reads and
writes the files as it would a block device.  The tests hash the files to
check what a restore wrote.  It imports nothing from the test suite: it runs
inside cinder-volume.
"""

import os

from oslo_config import cfg
from oslo_log import log as logging

from cinder import exception
from cinder import interface
from cinder.volume import driver

LOG = logging.getLogger(__name__)
MiB = 1024 ** 2
GiB = 1024 ** 3

file_volume_opts = [
    cfg.StrOpt('file_volume_dir',
               help='Directory that holds one sparse file per volume.'),
    cfg.IntOpt('file_volume_capacity_gb', default=1000,
               help='Capacity reported to the scheduler.'),
]


@interface.volumedriver
class SparseFileVolumeDriver(driver.VolumeDriver):
    """Volumes, snapshots and clones as sparse files in one directory."""

    VERSION = '1.0.0'
    CI_WIKI_NAME = 'none'

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.configuration.append_config_values(file_volume_opts)
        self.backend_name = (
            self.configuration.safe_get('volume_backend_name') or 'file')

    @staticmethod
    def get_driver_options():
        return file_volume_opts

    def do_setup(self, context):
        os.makedirs(self._dir, exist_ok=True)

    def check_for_setup_error(self):
        if not os.path.isdir(self._dir):
            raise exception.VolumeBackendAPIException(
                data='file_volume_dir %s is not a directory' % self._dir)

    @property
    def _dir(self):
        return self.configuration.file_volume_dir

    def _path(self, name):
        return os.path.join(self._dir, name)

    def local_path(self, volume):
        return self._path(volume.name)

    def _make_sparse(self, path, size_gb):
        with open(path, 'ab') as f:
            f.truncate(size_gb * GiB)

    def _copy_sparse(self, src, dst, size_gb):
        # Only the data regions: cinder-volume is one eventlet process, and
        # reading a whole 1 GiB file here would block its RPC and
        # heartbeats for seconds.
        with open(src, 'rb') as fsrc, open(dst, 'wb') as fdst:
            end = os.fstat(fsrc.fileno()).st_size
            pos = 0
            while pos < end:
                try:
                    data = os.lseek(fsrc.fileno(), pos, os.SEEK_DATA)
                except OSError:  # ENXIO: nothing but a hole is left
                    break
                hole = os.lseek(fsrc.fileno(), data, os.SEEK_HOLE)
                fsrc.seek(data)
                fdst.seek(data)
                for offset in range(data, hole, MiB):
                    fdst.write(fsrc.read(min(MiB, hole - offset)))
                pos = hole
            fdst.truncate(end)
        self._make_sparse(dst, size_gb)

    # --- volumes ---

    def create_volume(self, volume):
        self._make_sparse(self.local_path(volume), volume.size)

    def delete_volume(self, volume):
        try:
            os.unlink(self.local_path(volume))
        except FileNotFoundError:
            pass

    def extend_volume(self, volume, new_size):
        self._make_sparse(self.local_path(volume), new_size)

    def create_cloned_volume(self, volume, src_vref):
        self._copy_sparse(self.local_path(src_vref), self.local_path(volume),
                          volume.size)

    # --- snapshots ---

    def create_snapshot(self, snapshot):
        self._copy_sparse(self.local_path(snapshot.volume),
                          self._path(snapshot.name), snapshot.volume_size)

    def delete_snapshot(self, snapshot):
        try:
            os.unlink(self._path(snapshot.name))
        except FileNotFoundError:
            pass

    def create_volume_from_snapshot(self, volume, snapshot):
        self._copy_sparse(self._path(snapshot.name), self.local_path(volume),
                          volume.size)

    # --- attaching ---

    def ensure_export(self, context, volume):
        pass

    def create_export(self, context, volume, connector):
        pass

    def remove_export(self, context, volume):
        pass

    def initialize_connection(self, volume, connector, **kwargs):
        return {'driver_volume_type': 'local',
                'data': {'device_path': self.local_path(volume)}}

    def terminate_connection(self, volume, connector, **kwargs):
        # cinder-backup restores into a new volume by opening its device
        # path with 'wb', which truncates a regular file (a block device
        # keeps its size): give the file its volume's size back.
        path = self.local_path(volume)
        if os.path.exists(path) and os.path.getsize(path) < volume.size * GiB:
            LOG.debug('Extending %s back to %d GiB', path, volume.size)
            self._make_sparse(path, volume.size)

    # --- stats ---

    def _update_volume_stats(self):
        capacity = self.configuration.file_volume_capacity_gb
        self._stats = {
            'volume_backend_name': self.backend_name,
            'vendor_name': 'cinder-backup-ext tests',
            'driver_version': self.VERSION,
            'storage_protocol': 'local',
            'total_capacity_gb': capacity,
            'free_capacity_gb': capacity,
            'reserved_percentage': 0,
            'thin_provisioning_support': True,
            'multiattach': False,
        }
