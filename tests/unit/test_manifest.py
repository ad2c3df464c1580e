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

"""Repository format documents: round trips and rejection of bad input."""

import json

import testtools

from cinder_backup_ext import manifest
from cinder_backup_ext import sealing

DIGEST = 'ab' * 32
MATERIALS = sealing.Materials('zstd', 8192, 100, DIGEST)


def _segment(length=16384):
    return manifest.SegmentRef(0, 0, length, MATERIALS)


def _index(extents, length=16384, block=4096):
    return manifest.SegmentIndex(0, 0, length, block,
                                 b'\x00' * 32 * (-(-length // block)),
                                 extents)


def _rewrite(data, change):
    """Alter a document and re-seal its checksum, like a careful forger."""
    document = json.loads(data)
    change(document)
    del document['checksum']
    return manifest._dump(document)


class IndexTest(testtools.TestCase):
    def setUp(self):
        super().setUp()
        ref = manifest.ObjectRef(1, 7, MATERIALS)
        self.index = _index([manifest.Extent(0, 4096, None, 0),
                             manifest.Extent(4096, 8192, ref, 0),
                             manifest.Extent(12288, 4096, None, 0)])
        self.data = manifest.encode_index('b1', self.index)

    def _decode(self, data, chain_length=2):
        return manifest.decode_index(data, 'b1', _segment(), chain_length)

    def test_round_trip(self):
        decoded = self._decode(self.data)
        self.assertEqual(self.index.extents, decoded.extents)
        self.assertEqual(self.index.fingerprints, decoded.fingerprints)

    def test_checksum_catches_any_change(self):
        altered = self.data.replace(b'"length":16384', b'"length":16385')
        self.assertRaisesRegex(manifest.ManifestError, 'checksum',
                               self._decode, altered)

    def test_reference_beyond_chain(self):
        self.assertRaisesRegex(manifest.ManifestError, 'chain position',
                               self._decode, self.data, 1)

    def test_gap_between_extents(self):
        bad = _rewrite(self.data, lambda d: d['extents'][1].__setitem__(
            0, 5000))
        self.assertRaisesRegex(manifest.ManifestError, 'gap', self._decode,
                               bad)

    def test_extent_beyond_object(self):
        bad = _rewrite(self.data, lambda d: d['extents'][1].__setitem__(
            3, 100))
        self.assertRaisesRegex(manifest.ManifestError, 'object of',
                               self._decode, bad)

    def test_negative_length(self):
        bad = _rewrite(self.data, lambda d: d['extents'][0].__setitem__(
            1, -4096))
        self.assertRaises(manifest.ManifestError, self._decode, bad)

    def test_wrong_backup(self):
        self.assertRaisesRegex(
            manifest.ManifestError, 'belongs to', manifest.decode_index,
            self.data, 'other', _segment(), 2)

    def test_unknown_version(self):
        bad = _rewrite(self.data, lambda d: d.__setitem__('version', 3))
        self.assertRaisesRegex(manifest.ManifestError, 'version',
                               self._decode, bad)

    def test_not_json(self):
        self.assertRaisesRegex(manifest.ManifestError, 'JSON',
                               self._decode, b'\xff{')


class ManifestTest(testtools.TestCase):
    def setUp(self):
        super().setUp()
        self.manifest = manifest.Manifest(
            'b2', 'vol', ['b2', 'b1'], '2026-01-01T00:00:00', 16384, 4096,
            65536, [_segment()], '{"meta": 1}', {'objects': 1})
        self.data = manifest.encode_manifest(self.manifest)

    def test_round_trip(self):
        decoded = manifest.decode_manifest(self.data, 'b2')
        self.assertEqual(['b2', 'b1'], decoded.chain)
        self.assertEqual('b1', decoded.parent_id)
        self.assertEqual(self.manifest.segments, decoded.segments)
        self.assertEqual('{"meta": 1}', decoded.volume_meta)

    def test_segments_must_cover_the_volume(self):
        bad = _rewrite(self.data, lambda d: d.__setitem__('size', 20000))
        self.assertRaisesRegex(manifest.ManifestError, 'cover',
                               manifest.decode_manifest, bad, 'b2')

    def test_chain_must_start_with_backup(self):
        bad = _rewrite(self.data, lambda d: d.__setitem__('chain',
                                                          ['b1', 'b2']))
        self.assertRaises(manifest.ManifestError, manifest.decode_manifest,
                          bad, 'b2')

    def test_chain_ids_must_be_names(self):
        bad = _rewrite(self.data, lambda d: d['chain'].__setitem__(
            1, '../../etc'))
        self.assertRaises(manifest.ManifestError, manifest.decode_manifest,
                          bad, 'b2')

    def test_boolean_is_not_an_integer(self):
        bad = _rewrite(self.data, lambda d: d.__setitem__('block_size',
                                                          True))
        self.assertRaises(manifest.ManifestError, manifest.decode_manifest,
                          bad, 'b2')

    def test_truncated(self):
        self.assertRaises(manifest.ManifestError, manifest.decode_manifest,
                          self.data[:len(self.data) // 2], 'b2')
