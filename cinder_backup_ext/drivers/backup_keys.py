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

"""The life of a backup's key, as the driver sees it.

Owns the decisions around the key manager (cinder_backup_ext.sealing.keys
holds the calls to it): which key keys a new backup's fingerprints, what a
manifest records of a backup's encryption, and deleting a key once its
backup's data is gone.  Creating and fetching keys go through
keys.KeyRing.  The driver classes (chunked, posix, nfs) import it, never
the other way round.
"""

from oslo_log import log as logging

from cinder import exception as cinder_exception
from cinder import objects

from cinder_backup_ext import exception
from cinder_backup_ext.i18n import _
from cinder_backup_ext.repository import records
from cinder_backup_ext.sealing import crypto
from cinder_backup_ext.sealing import keys

LOG = logging.getLogger(__name__)


def fingerprint_secrets(context, backup, cipher, parent, keyring):
    """(owner, secret of the stored fingerprints, secret of the parent's):
    the owner is the ID of the backup whose key keys the fingerprints, the
    secrets are key bytes.

    Once a chain holds an encrypted backup its fingerprints stay keyed,
    with the key of the first encrypted member, so that no later plain
    index reveals hashes of encrypted blocks.
    """
    parent_owner = (parent.manifest.fingerprint_key_owner if parent
                    else None)
    parent_secret = None
    if parent_owner is not None:
        owner_record = objects.Backup.get_by_id(context, parent_owner)
        owner_cipher = keyring.cipher(owner_record.id,
                                      records.key_id(owner_record))
        if owner_cipher is None:
            raise cinder_exception.InvalidBackup(
                reason=_('backup %s keys its fingerprints with a backup '
                         'that has no key') % parent.manifest.backup_id)
        parent_secret = owner_cipher.fingerprint_secret
        return parent_owner, parent_secret, parent_secret
    if cipher is not None:
        return backup.id, cipher.fingerprint_secret, None
    return None, None, None


def encryption(cipher):
    """What the manifest records of the backup's encryption; None when it
    is plain."""
    if cipher is None:
        return None
    return {'algorithm': crypto.ALGORITHM, 'key_id': cipher.key_id,
            'kdf': crypto.KDF}


def delete_key(context, backup_id, key_id):
    """Delete the key of a backup whose data is gone; a failure is logged,
    not raised."""
    try:
        keys.delete_key(context, backup_id, key_id)
    except exception.BackupKeyError as error:
        # The data is gone; an orphaned key in Barbican is harmless but
        # worth the operator's attention.
        LOG.error('%s. Delete it in the key manager.', error)
