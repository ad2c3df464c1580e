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

"""castellan's in-memory key manager, with its keys kept in a file.

castellan's MockKeyManager keeps keys inside one process, but the operator
tools run in their own process and must open backups that another process
(the test's stand-in for cinder-backup) encrypted.  No persistent castellan
back end runs here without a server (Barbican and Vault are services), so
this one stores MockKeyManager's symmetric keys in a JSON file named by
``[file_key_manager] path``.  Test-only: the keys lie in clear on disk.
"""

import binascii
import fcntl
import json
import os

from castellan.common.objects import symmetric_key
from castellan.tests.unit.key_manager import mock_key_manager
from oslo_config import cfg

CLASS_PATH = __name__ + '.FileKeyManager'
_OPTS = [cfg.StrOpt('path', help='JSON file holding the keys')]


class FileKeyManager(mock_key_manager.MockKeyManager):

    def __init__(self, configuration=None):
        super().__init__(configuration)
        conf = configuration or cfg.CONF
        conf.register_opts(_OPTS, group='file_key_manager')
        self._path = conf.file_key_manager.path
        if not self._path:
            raise ValueError('[file_key_manager] path is not set')

    def _locked(self, write):
        fd = os.open(self._path + '.lock', os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX if write else fcntl.LOCK_SH)
        return fd

    def _load(self):
        try:
            with open(self._path) as f:
                stored = json.load(f)
        except FileNotFoundError:
            stored = {}
        self.keys = {}
        for key_id, item in stored.items():
            key = symmetric_key.SymmetricKey(
                item['algorithm'], item['bit_length'],
                binascii.unhexlify(item['key']), item['name'])
            key._id = key_id
            self.keys[key_id] = key

    def _save(self):
        stored = {key_id: {'algorithm': key.algorithm,
                           'bit_length': key.bit_length,
                           'key': binascii.hexlify(
                               key.get_encoded()).decode('ascii'),
                           'name': key.name}
                  for key_id, key in self.keys.items()}
        temp = self._path + '.new'
        with open(temp, 'w') as f:
            json.dump(stored, f)
        os.rename(temp, self._path)

    def _update(self, operation, *args, **kwargs):
        fd = self._locked(write=True)
        try:
            self._load()
            result = operation(*args, **kwargs)
            self._save()
            return result
        finally:
            os.close(fd)

    def store(self, context, managed_object, expiration=None):
        return self._update(super().store, context, managed_object,
                            expiration)

    def delete(self, context, managed_object_id, force=False):
        return self._update(super().delete, context, managed_object_id,
                            force)

    def get(self, context, managed_object_id, metadata_only=False):
        fd = self._locked(write=False)
        try:
            self._load()
        finally:
            os.close(fd)
        return super().get(context, managed_object_id, metadata_only)
