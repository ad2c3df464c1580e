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

"""Backup keys in the key manager, through castellan.

Owns the only calls to castellan: one 256-bit AES key per encrypted backup,
created in the backup owner's request context, fetched for restores and
deleted with the backup.  Raw key bytes are returned to the caller only and
never logged; errors name the backup and the key ID, never the key.

castellan's API object is built once per process: its mock back end keeps
keys in the object, and Cinder builds a new driver for every operation.
"""

import threading

from castellan.common import exception as castellan_exception
from castellan import key_manager
from oslo_config import cfg

from cinder_backup_ext import exception
from cinder_backup_ext.sealing import crypto

CONF = cfg.CONF
KEY_NAME = 'cinder-backup-ext backup %s'

_lock = threading.Lock()
_api = None


def _manager():
    global _api
    with _lock:
        if _api is None:
            _api = key_manager.API(CONF)
        return _api


def _reason(error):
    if isinstance(error, castellan_exception.ManagedObjectNotFoundError):
        return 'the key manager has no such key'
    return 'the key manager failed: %s: %s' % (type(error).__name__, error)


def create_key(context, backup_id):
    """Create the backup's key; return its ID."""
    try:
        return _manager().create_key(context, algorithm='AES',
                                     length=crypto.KEY_BYTES * 8,
                                     name=KEY_NAME % backup_id)
    except Exception as error:
        raise exception.BackupKeyError(backup_id=backup_id,
                                       key_id='(new)', reason=_reason(error))


def get_key(context, backup_id, key_id):
    """The backup's raw key bytes."""
    try:
        key = _manager().get(context, key_id)
        raw = key.get_encoded()
    except Exception as error:
        raise exception.BackupKeyError(backup_id=backup_id, key_id=key_id,
                                       reason=_reason(error))
    if not raw or len(raw) != crypto.KEY_BYTES:
        raise exception.BackupKeyError(
            backup_id=backup_id, key_id=key_id,
            reason='not a %d-bit key' % (crypto.KEY_BYTES * 8))
    return raw


def delete_key(context, backup_id, key_id):
    try:
        _manager().delete(context, key_id)
    except Exception as error:
        raise exception.BackupKeyError(backup_id=backup_id, key_id=key_id,
                                       reason=_reason(error))


class KeyRing(object):
    """The ciphers of the backups one operation touches, each key fetched
    once."""

    def __init__(self, context):
        self.context = context
        self._ciphers = {}

    def cipher(self, backup_id, key_id):
        """The backup's cipher, or None for a plain backup (no key_id).

        The caller reads key_id from the backup's record (records.key_id):
        this module knows the key manager, not Cinder's records.
        """
        if key_id is None:
            return None
        if backup_id not in self._ciphers:
            self._ciphers[backup_id] = crypto.BackupCipher(
                backup_id, key_id, get_key(self.context, backup_id, key_id))
        return self._ciphers[backup_id]

    def new_cipher(self, backup_id):
        """Create a key for a new backup and return its cipher."""
        key_id = create_key(self.context, backup_id)
        try:
            cipher = crypto.BackupCipher(
                backup_id, key_id, get_key(self.context, backup_id, key_id))
        except exception.BackupKeyError:
            self.forget(backup_id, key_id)
            raise
        self._ciphers[backup_id] = cipher
        return cipher

    def forget(self, backup_id, key_id):
        """Delete a key; False (and no exception) if that failed."""
        self._ciphers.pop(backup_id, None)
        try:
            delete_key(self.context, backup_id, key_id)
        except exception.BackupKeyError:
            return False
        return True
