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

from cinder_backup_ext.sealing import codec
from cinder_backup_ext.sealing import sealing

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


class IntoBufferTest(testtools.TestCase):
    """compress_into and decompress_into write into the caller's buffers."""

    def test_zstd_round_trip_through_buffers(self):
        out = bytearray(len(TEXT) + 1)
        used, stored = codec.compress_into(codec.ZSTD, TEXT, out)
        self.assertEqual(codec.ZSTD, used)
        self.assertLess(len(stored), len(TEXT) // 10)
        self.assertEqual(bytes(out[:len(stored)]), bytes(stored))
        plain = bytearray(len(TEXT) + 1)
        result = codec.decompress_into(used, bytes(stored), len(TEXT), plain)
        self.assertEqual(TEXT, bytes(result))
        self.assertEqual(TEXT, bytes(plain[:len(TEXT)]))

    def test_same_stream_as_one_shot_decoders_read(self):
        # Objects written through the buffers are opened by decompress()
        # (tools, older releases) and the other way round.
        out = bytearray(len(TEXT) + 1)
        _used, stored = codec.compress_into(codec.ZSTD, TEXT, out)
        self.assertEqual(TEXT, codec.decompress(codec.ZSTD, bytes(stored),
                                                len(TEXT)))
        _used, packed = codec.compress(codec.ZSTD, TEXT)
        self.assertEqual(TEXT, bytes(codec.decompress_into(
            codec.ZSTD, packed, len(TEXT), bytearray(len(TEXT) + 1))))

    def test_window_spans_the_object(self):
        # Text repeating every 3 MiB only compresses when the window
        # reaches back 3 MiB, past level 3's own 2 MiB.
        block = os.urandom(3 << 20)
        data = block + block
        used, stored = codec.compress_into(codec.ZSTD, data,
                                           bytearray(len(data) + 1))
        self.assertEqual(codec.ZSTD, used)
        self.assertLess(len(stored), len(block) + (64 << 10))

    def test_incompressible_data_is_returned_as_is(self):
        data = os.urandom(1 << 20)
        used, stored = codec.compress_into(codec.ZSTD, data,
                                           bytearray(len(data) + 1))
        self.assertEqual(codec.NONE, used)
        self.assertIs(data, stored)

    def test_other_codecs_fall_back_to_allocating(self):
        for name in (codec.ZLIB, codec.BZ2, codec.NONE):
            used, stored = codec.compress_into(name, TEXT,
                                               bytearray(len(TEXT) + 1))
            self.assertEqual(name, used)
            self.assertEqual(TEXT, bytes(codec.decompress_into(
                used, stored, len(TEXT), bytearray(len(TEXT) + 1))))

    def test_longer_stream_than_recorded_is_refused(self):
        _used, stored = codec.compress(codec.ZSTD, TEXT)
        self.assertRaisesRegex(
            codec.CodecError, 'expected 1000', codec.decompress_into,
            codec.ZSTD, stored, 1000, bytearray(1001))

    def test_shorter_stream_than_recorded_is_refused(self):
        _used, stored = codec.compress(codec.ZSTD, TEXT)
        self.assertRaises(codec.CodecError, codec.decompress_into,
                          codec.ZSTD, stored, len(TEXT) + 5,
                          bytearray(len(TEXT) + 6))

    def test_garbage_is_a_codec_error(self):
        self.assertRaises(codec.CodecError, codec.decompress_into,
                          codec.ZSTD, b'not compressed at all', 100,
                          bytearray(101))

    def test_window_bigger_than_the_object_needs_is_refused(self):
        # A frame may ask its decoder for a window of up to 2 GiB; one
        # wider than the recorded size calls for is not allocated.
        import zstandard
        params = zstandard.ZstdCompressionParameters(
            window_log=26, compression_level=3)
        # Streamed without a size, the frame keeps the window it asks for.
        stream = zstandard.ZstdCompressor(
            compression_params=params).compressobj()
        frame = stream.compress(TEXT) + stream.flush()
        self.assertEqual(1 << 26, zstandard.get_frame_parameters(
            frame).window_size)
        self.assertRaises(codec.CodecError, codec.decompress_into,
                          codec.ZSTD, frame, len(TEXT),
                          bytearray(len(TEXT) + 1))


class SealingTest(testtools.TestCase):

    def test_pieces_are_sealed_as_one_object(self):
        pieces = [memoryview(TEXT)[:1000], memoryview(TEXT)[1000:]]
        scratch = sealing.Scratch()
        stored, materials = sealing.seal_object('zstd', pieces,
                                                scratch=scratch)
        self.assertEqual(len(TEXT), materials.size)
        self.assertEqual(TEXT, sealing.open_object(bytes(stored), materials))

    def test_scratch_opens_into_its_buffers(self):
        stored, materials = sealing.seal_object('zstd', TEXT)
        scratch = sealing.Scratch()
        plain = sealing.open_object(stored, materials, scratch=scratch)
        self.assertEqual(TEXT, bytes(plain))
        self.assertEqual(TEXT, bytes(scratch.buffer('plain', 1)[:len(TEXT)]))

    def test_pool_reuses_what_was_given_back(self):
        pool = sealing.ScratchPool()
        with pool.borrow() as first:
            with pool.borrow() as second:
                self.assertIsNot(first, second)
        with pool.borrow() as again:
            self.assertIn(again, (first, second))

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
