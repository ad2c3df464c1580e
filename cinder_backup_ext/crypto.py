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

"""Per-backup encryption: key derivation and AES-256-GCM sealing.

Owns what is derived from a backup's 256-bit key (never stored, never
logged): the object encryption key, the key of the change-tracking
fingerprints and the key of the manifest's MAC, each through HKDF-SHA256
with its own label.  An object is stored as nonce || ciphertext || tag; its
associated data binds it to its backup, name and offset, so an object moved
to another backup, name or place fails to open.  Runs on native threads:
no logging.
"""

import os
import threading

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

ALGORITHM = 'AES-256-GCM'
KDF = 'HKDF-SHA256'
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16

_LABEL = b'cinder-backup-ext/2 '
# Per-thread output buffer of seal().
_scratch = threading.local()


class DecryptionError(ValueError):
    pass


def derive(master_key, purpose):
    """A 32-byte key for one purpose, from a backup's master key."""
    if len(master_key) != KEY_BYTES:
        raise ValueError('a backup key must be %d bytes, got %d'
                         % (KEY_BYTES, len(master_key)))
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None,
                info=_LABEL + purpose.encode('ascii')).derive(master_key)


class BackupCipher(object):
    """Seals and opens the objects of one backup."""

    def __init__(self, backup_id, key_id, master_key):
        self.backup_id = backup_id
        self.key_id = key_id
        self._aead = AESGCM(derive(master_key, 'objects'))
        self.fingerprint_key = derive(master_key, 'fingerprints')
        self.mac_key = derive(master_key, 'manifest')

    def __repr__(self):
        # Never the key material.
        return '<BackupCipher backup=%s key=%s>' % (self.backup_id,
                                                    self.key_id)

    def _associated_data(self, name, offset):
        return ('%s\0%s\0%s\0%d' % (_LABEL.decode('ascii'), self.backup_id,
                                    name, offset)).encode('utf-8')

    def seal(self, name, offset, data):
        """nonce || ciphertext || tag of data.

        The result lives in a buffer of the calling thread, reused by its
        next seal: write it out before sealing again.  A fresh 4 MiB result
        per object would cost a page fault per page (freed big blocks go
        back to the kernel), which made encrypted backups a third slower.
        """
        nonce = os.urandom(NONCE_BYTES)
        aad = self._associated_data(name, offset)
        encrypt_into = getattr(self._aead, 'encrypt_into', None)
        if encrypt_into is None:
            # cryptography releases without encrypt_into.
            return nonce + self._aead.encrypt(nonce, data, aad)
        size = NONCE_BYTES + len(data) + TAG_BYTES
        buffer = getattr(_scratch, 'buffer', None)
        if buffer is None or len(buffer) < size:
            buffer = _scratch.buffer = bytearray(size)
        view = memoryview(buffer)
        view[:NONCE_BYTES] = nonce
        encrypt_into(nonce, data, aad, view[NONCE_BYTES:size])
        return view[:size]

    def open(self, name, offset, stored):
        if len(stored) < NONCE_BYTES + TAG_BYTES:
            raise DecryptionError('too short to be an AES-GCM object')
        view = memoryview(stored)
        try:
            return self._aead.decrypt(
                view[:NONCE_BYTES], view[NONCE_BYTES:],
                self._associated_data(name, offset))
        except InvalidTag:
            raise DecryptionError(
                'authentication failed: the object was altered, moved, or '
                'sealed with another key')
