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

"""Compression steps and the sealing of objects."""

import os

import testtools

from cinder_backup_ext import codec
from cinder_backup_ext import sealing

TEXT = b'compressible text ' * 5000


class CodecTest(testtools.TestCase):

    def test_round_trip_each_codec(self):
        for name in codec.CODECS:
            used, stored = codec.compress(name, TEXT)
            self.assertEqual(name, used)
            self.assertEqual(TEXT, codec.decompress(used, stored, len(TEXT)))

    def test_incompressible_data_is_stored_plain(self):
        data = os.urandom(65536)
        self.assertEqual((codec.NONE, data), codec.compress(codec.ZSTD, data))

    def test_cinder_spellings(self):
        self.assertEqual(codec.ZLIB, codec.canonical('gzip'))
        self.assertEqual(codec.BZ2, codec.canonical('BZIP2'))
        self.assertEqual(codec.NONE, codec.canonical('off'))
        self.assertRaises(codec.CodecError, codec.canonical, 'lz4')

    def test_decompression_is_bounded_by_recorded_size(self):
        for name in (codec.ZLIB, codec.BZ2, codec.ZSTD):
            _used, stored = codec.compress(name, TEXT)
            self.assertRaises(codec.CodecError, codec.decompress, name,
                              stored, 1000)

    def test_garbage_is_a_codec_error(self):
        for name in (codec.ZLIB, codec.BZ2, codec.ZSTD):
            self.assertRaises(codec.CodecError, codec.decompress, name,
                              b'not compressed at all', 100)


class SealingTest(testtools.TestCase):

    def test_round_trip(self):
        stored, materials = sealing.seal_object('zstd', TEXT)
        self.assertLess(materials.stored, materials.size)
        self.assertEqual(TEXT, sealing.open_object(stored, materials))

    def test_every_flipped_byte_is_caught(self):
        stored, materials = sealing.seal_object('zlib', TEXT)
        for position in range(0, len(stored), max(1, len(stored) // 50)):
            damaged = bytearray(stored)
            damaged[position] ^= 0x10
            self.assertRaises(sealing.SealError, sealing.open_object,
                              bytes(damaged), materials)

    def test_truncation_is_caught(self):
        stored, materials = sealing.seal_object('none', TEXT)
        self.assertRaisesRegex(sealing.SealError, 'size',
                               sealing.open_object, stored[:-1], materials)
