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

"""AES-256-GCM sealing and key derivation."""

import os

import testtools

from cinder_backup_ext.sealing import crypto
from cinder_backup_ext.sealing import sealing


class CipherTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.key = os.urandom(32)
        self.cipher = crypto.BackupCipher('b1', 'key-1', self.key)
        # seal() returns a view of a reused buffer: keep a copy.
        self.stored = bytes(self.cipher.seal('data/00000/00000001', 4096,
                                             b'secret'))

    def test_round_trip(self):
        self.assertEqual(b'secret', self.cipher.open('data/00000/00000001',
                                                     4096, self.stored))

    def test_object_is_bound_to_backup_name_and_offset(self):
        other_backup = crypto.BackupCipher('b2', 'key-1', self.key)
        for opener, name, offset in (
                (self.cipher, 'data/00000/00000002', 4096),
                (self.cipher, 'data/00000/00000001', 8192),
                (other_backup, 'data/00000/00000001', 4096)):
            self.assertRaises(crypto.DecryptionError, opener.open, name,
                              offset, self.stored)

    def test_wrong_key(self):
        other = crypto.BackupCipher('b1', 'key-1', os.urandom(32))
        self.assertRaises(crypto.DecryptionError, other.open,
                          'data/00000/00000001', 4096, self.stored)

    def test_nonce_is_fresh_for_every_object(self):
        again = bytes(self.cipher.seal('data/00000/00000001', 4096,
                                       b'secret'))
        self.assertNotEqual(self.stored, again)

    def test_derived_keys_differ_and_are_not_the_master(self):
        derived = {crypto.derive(self.key, p)
                   for p in ('objects', 'fingerprints', 'manifest')}
        self.assertEqual(3, len(derived))
        self.assertNotIn(self.key, derived)

    def test_seal_and_open_into_given_buffers(self):
        out = bytearray(100 + crypto.OVERHEAD_BYTES + 7)
        sealed = self.cipher.seal('data/00000/00000002', 0, b'a' * 100, out)
        self.assertEqual(100 + crypto.OVERHEAD_BYTES, len(sealed))
        self.assertEqual(bytes(out[:len(sealed)]), bytes(sealed))
        plain_out = bytearray(len(sealed))
        plain = self.cipher.open('data/00000/00000002', 0, bytes(sealed),
                                 plain_out)
        self.assertEqual(b'a' * 100, bytes(plain))
        self.assertEqual(b'a' * 100, bytes(plain_out[:100]))

    def test_open_into_a_buffer_still_authenticates(self):
        sealed = bytearray(self.cipher.seal('data/00000/00000002', 0,
                                            b'a' * 100))
        sealed[20] ^= 1
        self.assertRaises(crypto.DecryptionError, self.cipher.open,
                          'data/00000/00000002', 0, bytes(sealed),
                          bytearray(len(sealed)))

    def test_repr_shows_no_key(self):
        self.assertNotIn(self.key.hex(), repr(self.cipher))
        self.assertIn('key-1', repr(self.cipher))

    def test_sealed_object_compresses_before_encrypting(self):
        text = b'very compressible ' * 1000
        stored, materials = sealing.seal_object('zstd', text, self.cipher,
                                                'index/00000000', 0)
        self.assertEqual('zstd', materials.codec)
        self.assertLess(len(stored), len(text) // 10)
        self.assertEqual(text, sealing.open_object(
            stored, materials, self.cipher, 'index/00000000', 0))
