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

"""Repository format documents: round trips and rejection of bad input.

The byte strings below are the format (doc/source/format.rst): a change
that alters any of them makes existing repositories unreadable, so they are
written out here rather than computed by the code under test.
"""

import hmac
import json
from unittest import mock

import blake3
import testtools

from cinder_backup_ext.repository import canonical_json
from cinder_backup_ext.repository import manifest
from cinder_backup_ext.sealing import sealing

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


# Canonical JSON (format.rst, "Canonical JSON and checksums"): keys sorted
# at every level, no white space, '"' '\' and the five short escapes, every
# other character outside ' '..'~' as \u with four lowercase hex digits
# (UTF-16 surrogate pairs above U+FFFF), '/' as it is.
CANONICAL_VECTORS = [
    ({'volume_meta': 'caf\u00e9 \u2028\U0001f600 "q" \\ / '
                     '\b\f\n\r\t\x00\x1f\x7f',
      'b': [1, -2, True, None], 'a': {'z': 0, 'A': 'x'}},
     b'{"a":{"A":"x","z":0},"b":[1,-2,true,null],"volume_meta":"caf\\u00e9 '
     b'\\u2028\\ud83d\\ude00 \\"q\\" \\\\ / \\b\\f\\n\\r\\t\\u0000\\u001f'
     b'\\u007f"}'),
    ({}, b'{}'),
    ({'b': [1, -2, True, None], 'a': {'z': 0, 'A': 'x'}},
     b'{"a":{"A":"x","z":0},"b":[1,-2,true,null]}'),
    ({'volume_meta': 'caf\u00e9 \u2028\U0001f600 "q" \\ / '
                     '\b\f\n\r\t\x00\x1f\x7f'},
     b'{"volume_meta":"caf\\u00e9 \\u2028\\ud83d\\ude00 \\"q\\" '
     b'\\\\ / \\b\\f\\n\\r\\t\\u0000\\u001f\\u007f"}'),
    ({'k': ''}, b'{"k":""}'),
    ({'n': [0, 9007199254740993, -1]}, b'{"n":[0,9007199254740993,-1]}'),
]

FIXED_MATERIALS = sealing.Materials('zstd', 8192, 100, 'ab' * 32)
FIXED_VOLUME_META = 'caf\u00e9 \U0001f600 "q" \\ \n\t\x01\x7f/'


def _fixed_index():
    ref1 = manifest.ObjectRef(0, 3, FIXED_MATERIALS)
    ref2 = manifest.ObjectRef(1, 2, sealing.Materials('none', 4096, 4096,
                                                      'cd' * 32))
    return manifest.SegmentIndex(
        0, 196608, 20480, 4096, bytes(range(32)) * 4 + b'\xff' * 32,
        [manifest.Extent(196608, 4096, None, 0),
         manifest.Extent(200704, 8192, ref1, 0),
         manifest.Extent(208896, 4096, ref2, 0),
         manifest.Extent(212992, 4096, None, 0)])


def _fixed_manifest(**kwargs):
    return manifest.Manifest(
        'b2', 'vol-1', ['b2', 'b1'], '2026-01-02T03:04:05.000006', 20480,
        4096, 65536,
        [manifest.SegmentRef(0, 0, 20480, sealing.Materials(
            'zlib', 900, 300, 'ef' * 32))],
        FIXED_VOLUME_META, {'new_bytes': 12288, 'objects': 1}, **kwargs)


INDEX_HEAD = b'{"backup_id":"b2","block_size":4096,'
INDEX_TAIL = (
    b'"extents":[[196608,4096,-1,0],[200704,8192,0,0],[208896,4096,1,0],'
    b'[212992,4096,-1,0]],"fingerprint_algorithm":"blake3",'
    b'"fingerprints":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8AAQIDBAUGBw'
    b'gJCgsMDQ4PEBESExQVFhcYGRobHB0eHwABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhs'
    b'cHR4fAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh//////////////////////'
    b'/////////////////////w==",'
    b'"format":"cinder-backup-ext-index","length":20480,'
    b'"objects":[[0,3,"zstd",8192,100,"' + b'ab' * 32 + b'"],'
    b'[1,2,"none",4096,4096,"' + b'cd' * 32 + b'"]],'
    b'"offset":196608,"segment":0,"version":2}')
INDEX_CHECKSUM = ('e16e43fd1dd0ae8e69d82f7e08386ce1'
                  '2cabb8d9a7c1bc4a5f2f36cd1a331564')

MANIFEST_HEAD = (
    b'{"backup_id":"b2","block_size":4096,"chain":["b2","b1"],')
MANIFEST_TAIL = (
    b'"created_at":"2026-01-02T03:04:05.000006",'
    b'"digest_algorithm":"blake3",%(encryption)s'
    b'"format":"cinder-backup-ext",%(mac)s"object_size":65536,'
    b'"sealed_volume_meta":null,'
    b'"segments":[[0,0,20480,"zlib",900,300,"' + b'ef' * 32 + b'"]],'
    b'"size":20480,"stats":{"new_bytes":12288,"objects":1},"version":2,'
    b'"volume_id":"vol-1","volume_meta":"caf\\u00e9 \\ud83d\\ude00 '
    b'\\"q\\" \\\\ \\n\\t\\u0001\\u007f/"}')
PLAIN_ENCRYPTION = b'"encryption":null,"fingerprint_key":null,'
PLAIN_CHECKSUM = ('55a3b386a950315d7b4d895ca4ec0aa3'
                  '779d026d63cd61e0a0d49ffb7b2794e6')
MAC_KEY = bytes(range(32))
ENCRYPTION = {'algorithm': 'AES-256-GCM', 'kdf': 'HKDF-SHA256',
              'key_id': 'key-1'}
KEYED_ENCRYPTION = (b'"encryption":{"algorithm":"AES-256-GCM",'
                    b'"kdf":"HKDF-SHA256","key_id":"key-1"},'
                    b'"fingerprint_key":"b1",')


def _manifest_tail(encryption, mac=b''):
    return MANIFEST_TAIL % {b'encryption': encryption, b'mac': mac}


def _with_checksum(head, tail, checksum):
    return head + b'"checksum":"' + checksum.encode() + b'",' + tail + b'\n'


class CanonicalJsonTest(testtools.TestCase):
    def test_vectors(self):
        for document, expected in CANONICAL_VECTORS:
            self.assertEqual(expected, canonical_json.encode(document))
            # Every vector parses back to its document.
            self.assertEqual(document, json.loads(expected))

    def test_index_bytes_of_a_fixed_input(self):
        self.assertEqual(INDEX_CHECKSUM,
                         blake3.blake3(INDEX_HEAD + INDEX_TAIL).hexdigest())
        self.assertEqual(
            _with_checksum(INDEX_HEAD, INDEX_TAIL, INDEX_CHECKSUM),
            manifest.encode_index('b2', _fixed_index()))

    def test_plain_manifest_bytes_of_a_fixed_input(self):
        tail = _manifest_tail(PLAIN_ENCRYPTION)
        self.assertEqual(PLAIN_CHECKSUM,
                         blake3.blake3(MANIFEST_HEAD + tail).hexdigest())
        self.assertEqual(_with_checksum(MANIFEST_HEAD, tail, PLAIN_CHECKSUM),
                         manifest.encode_manifest(_fixed_manifest()))

    def test_encrypted_manifest_bytes_and_mac(self):
        unsigned = _manifest_tail(KEYED_ENCRYPTION)
        # The MAC covers everything but checksum and mac, keyed BLAKE3.
        mac = blake3.blake3(MANIFEST_HEAD + unsigned,
                            key=MAC_KEY).hexdigest()
        tail = _manifest_tail(KEYED_ENCRYPTION,
                              b'"mac":"' + mac.encode() + b'",')
        checksum = blake3.blake3(MANIFEST_HEAD + tail).hexdigest()
        document = _fixed_manifest(encryption=dict(ENCRYPTION),
                                   fingerprint_key_owner='b1')
        data = manifest.encode_manifest(document, MAC_KEY)
        self.assertEqual(_with_checksum(MANIFEST_HEAD, tail, checksum), data)
        manifest.check_mac(data, MAC_KEY)
        self.assertRaisesRegex(manifest.ManifestError, 'MAC',
                               manifest.check_mac, data, bytes(32))

    def test_round_trip_of_every_character_class(self):
        data = manifest.encode_manifest(_fixed_manifest())
        self.assertEqual(FIXED_VOLUME_META,
                         manifest.decode_manifest(data, 'b2').volume_meta)
        # ASCII only: nothing depends on how a reader decodes UTF-8.
        data.decode('ascii')

    def test_white_space_does_not_change_the_checksum(self):
        # The checksum is over the canonical form of what was parsed, not
        # over the stored bytes.
        data = manifest.encode_manifest(_fixed_manifest())
        spaced = json.dumps(json.loads(data), indent=2).encode()
        self.assertEqual(['b2', 'b1'],
                         manifest.decode_manifest(spaced, 'b2').chain)

    def test_floats_are_refused(self):
        data = manifest.encode_manifest(_fixed_manifest())
        for number in (b'1.0', b'1e3', b'NaN', b'Infinity'):
            altered = data.replace(b'"objects":1', b'"objects":' + number)
            self.assertRaisesRegex(manifest.ManifestError, 'integer',
                                   manifest.decode_manifest, altered, 'b2')

    def test_floats_are_not_written(self):
        document = _fixed_manifest()
        document.stats['ratio'] = float('nan')
        self.assertRaises(ValueError, manifest.encode_manifest, document)

    def test_repeated_key_is_refused(self):
        data = manifest.encode_manifest(_fixed_manifest())
        # A second "size" that a parser keeping the last member would use
        # while the checksum still matches the first.
        altered = data.replace(b'{"backup_id"', b'{"size":1,"backup_id"')
        self.assertRaisesRegex(manifest.ManifestError, 'twice',
                               manifest.decode_manifest, altered, 'b2')

    def test_mac_is_compared_in_constant_time(self):
        data = manifest.encode_manifest(
            _fixed_manifest(encryption=dict(ENCRYPTION)), MAC_KEY)
        with mock.patch.object(manifest.hmac, 'compare_digest',
                               wraps=hmac.compare_digest) as compare:
            manifest.check_mac(data, MAC_KEY)
        self.assertEqual(1, compare.call_count)

    def test_mac_missing_or_not_a_string(self):
        data = manifest.encode_manifest(
            _fixed_manifest(encryption=dict(ENCRYPTION)), MAC_KEY)
        for value in (None, 7):
            bad = _rewrite(data, lambda d: d.__setitem__('mac', value))
            self.assertRaisesRegex(manifest.ManifestError, 'MAC',
                                   manifest.check_mac, bad, MAC_KEY)
