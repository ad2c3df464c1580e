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
fingerprints (fingerprint_secret) and the key of the manifest's MAC
(mac_key), each through HKDF-SHA256 with its own label.  An object is
stored as nonce || ciphertext || tag; its associated data binds it to its
backup, name and offset, so an object moved to another backup, name or
place fails to open.  Runs on native threads: no logging.
"""

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

ALGORITHM = 'AES-256-GCM'
KDF = 'HKDF-SHA256'
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
# What sealing adds to an object's size.
OVERHEAD_BYTES = NONCE_BYTES + TAG_BYTES

_LABEL = b'cinder-backup-ext/2 '


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
        self.fingerprint_secret = derive(master_key, 'fingerprints')
        self.mac_key = derive(master_key, 'manifest')

    def __repr__(self):
        # Never the key material.
        return '<BackupCipher backup=%s key=%s>' % (self.backup_id,
                                                    self.key_id)

    def _associated_data(self, name, offset):
        return ('%s\0%s\0%s\0%d' % (_LABEL.decode('ascii'), self.backup_id,
                                    name, offset)).encode('utf-8')

    def seal(self, name, offset, data, out=None):
        """nonce || ciphertext || tag of data.

        With out, a writable buffer of at least len(data) + OVERHEAD_BYTES,
        the result is a memoryview of it, so that sealing an object does
        not allocate one more object-sized buffer.
        """
        nonce = os.urandom(NONCE_BYTES)
        aad = self._associated_data(name, offset)
        encrypt_into = getattr(self._aead, 'encrypt_into', None)
        if out is None or encrypt_into is None:
            # Small objects, and cryptography releases without
            # encrypt_into.
            return nonce + self._aead.encrypt(nonce, bytes(data), aad)
        size = len(data) + OVERHEAD_BYTES
        view = memoryview(out)
        view[:NONCE_BYTES] = nonce
        encrypt_into(nonce, data, aad, view[NONCE_BYTES:size])
        return view[:size]

    def open(self, name, offset, stored, out=None):
        """The plaintext of a sealed object; with out, a writable buffer
        of at least len(stored) bytes, a memoryview of it."""
        if len(stored) < NONCE_BYTES + TAG_BYTES:
            raise DecryptionError('too short to be an AES-GCM object')
        view = memoryview(stored)
        nonce = view[:NONCE_BYTES]
        aad = self._associated_data(name, offset)
        decrypt_into = getattr(self._aead, 'decrypt_into', None)
        try:
            if out is None or decrypt_into is None:
                return self._aead.decrypt(nonce, view[NONCE_BYTES:], aad)
            size = len(stored) - OVERHEAD_BYTES
            plain = memoryview(out)[:size]
            decrypt_into(nonce, view[NONCE_BYTES:], aad, plain)
            return plain
        except InvalidTag:
            raise DecryptionError(
                'authentication failed: the object was altered, moved, or '
                'sealed with another key')
