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

"""The golden repositories under golden/: where they are and what the
Cinder database said about them.

golden/golden.json holds, per repository, the records a restore needs
(backup ID, parent, container, service_metadata) and the length and SHA-256
of each backup's volume.  golden/TEST-ONLY-keys.json holds the backup keys
of the encrypted repository: fixed, published test keys that protect
nothing.  Nothing here imports cinder_backup_ext, so the standalone reader
can use it too.
"""

import json
import os
import shutil

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'golden')
FACTS = os.path.join(GOLDEN, 'golden.json')
TEST_ONLY_KEYS = os.path.join(GOLDEN, 'TEST-ONLY-keys.json')

PLAIN = 'plain-zstd'
ENCRYPTED = 'encrypted-TEST-ONLY-key'
CINDER = 'cinder-1.0.0'
REPOSITORIES = (PLAIN, ENCRYPTED, CINDER)


def load_facts():
    with open(FACTS) as f:
        return json.load(f)


def load_test_keys():
    """{key ID: key bytes} of the encrypted golden repository."""
    with open(TEST_ONLY_KEYS) as f:
        return {key_id: bytes.fromhex(value)
                for key_id, value in json.load(f)['keys'].items()}


def backups(name):
    """The backup records of one golden repository, oldest first."""
    return load_facts()['repositories'][name]['backups']


def chain_of(name, backup_id):
    """Records of backup_id and its ancestors, newest first."""
    by_id = {record['id']: record for record in backups(name)}
    chain = [by_id[backup_id]]
    while chain[-1]['parent_id']:
        chain.append(by_id[chain[-1]['parent_id']])
    return chain


def copy_repository(name, destination):
    """Copy golden/<name> into destination (an existing directory), so a
    test can write to it; the committed files are never touched."""
    shutil.copytree(os.path.join(GOLDEN, name), destination,
                    dirs_exist_ok=True)


class FixedKey(object):
    def __init__(self, raw):
        self._raw = raw

    def get_encoded(self):
        return self._raw


class FixedKeyManager(object):
    """A key manager that knows a fixed set of keys and hands out new
    ones from a fixed list, in order: the golden encrypted repository is
    written and read with published test keys."""

    def __init__(self, keys, new=()):
        self.keys = dict(keys)
        self._new = list(new)

    def create_key(self, context, algorithm, length, name=None):
        key_id = self._new.pop(0)
        if key_id not in self.keys:
            raise KeyError(key_id)
        return key_id

    def get(self, context, key_id):
        return FixedKey(self.keys[key_id])

    def delete(self, context, key_id):
        self.keys.pop(key_id)
