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

"""The repository format, version 2: manifests and segment indexes.

Owns encoding, decoding and validation of the two metadata documents of a
backup; doc/source/format.rst is its specification.  It must not touch
storage or volumes.  Decoding validates everything a restore relies on
(types, ranges, coverage, references) so that a damaged or hostile document
fails with ManifestError before any byte is written.

A manifest lists the backup's segment indexes; a segment index covers one
contiguous range of the volume with extents (zero, or a slice of a stored
object of this backup or of an ancestor) and the change-tracking
fingerprints of its blocks.  The newest backup's indexes alone describe the
whole volume, so a chain restores in one pass.
"""

import base64
import binascii
import collections
import hmac
import json
import re

from cinder_backup_ext.repository import canonical_json
from cinder_backup_ext.sealing import codec
from cinder_backup_ext.sealing import crypto
from cinder_backup_ext.sealing import sealing

FORMAT = 'cinder-backup-ext'
INDEX_FORMAT = 'cinder-backup-ext-index'
VERSION = 2
FINGERPRINT_ALGORITHM = 'blake3'
FINGERPRINT_SIZE = 32

# Sanity bounds for values read from a document.
MAX_VOLUME_BYTES = 1 << 50
MAX_OBJECT_BYTES = 1 << 32
MAX_CHAIN = 100000

_HEX_DIGEST = re.compile(r'^[0-9a-f]{64}$')
_ID = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$')
_KEY_ID = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,254}$')

# A stored object as seen from a segment: `depth` is its backup's position
# in the chain (0 = the backup that owns the index, 1 = its parent, ...).
ObjectRef = collections.namedtuple('ObjectRef', 'depth number materials')
# A range of the volume: zeros when ref is None, else bytes
# [object_offset, object_offset + length) of the object's plaintext.
Extent = collections.namedtuple('Extent',
                                'offset length ref object_offset')
# A segment index as listed in the manifest.
SegmentRef = collections.namedtuple('SegmentRef',
                                    'number offset length materials')


class ManifestError(ValueError):
    """A metadata document is malformed, inconsistent or from the future."""


class SegmentIndex(object):
    def __init__(self, number, offset, length, block_size, fingerprints,
                 extents):
        self.number = number
        self.offset = offset
        self.length = length
        self.block_size = block_size
        self.fingerprints = fingerprints
        self.extents = extents

    @property
    def end(self):
        return self.offset + self.length


class Manifest(object):
    def __init__(self, backup_id, volume_id, chain, created_at, size,
                 block_size, object_size, segments, volume_meta=None,
                 stats=None, encryption=None, fingerprint_key_owner=None):
        self.backup_id = backup_id
        self.volume_id = volume_id
        self.chain = list(chain)
        self.created_at = created_at
        self.size = size
        self.block_size = block_size
        self.object_size = object_size
        self.segments = list(segments)
        self.volume_meta = volume_meta
        self.stats = dict(stats or {})
        # {"algorithm", "key_id", "kdf"} of an encrypted backup, else None.
        self.encryption = encryption
        # The ID of the chain member whose key derives the key of the
        # fingerprints (its cipher's fingerprint_secret), or None for plain
        # BLAKE3 fingerprints.  On disk: the field fingerprint_key.
        self.fingerprint_key_owner = fingerprint_key_owner
        # An encrypted backup's volume_meta, sealed (base64), instead of
        # volume_meta.
        self.sealed_volume_meta = None

    @property
    def key_id(self):
        return self.encryption['key_id'] if self.encryption else None

    @property
    def parent_id(self):
        return self.chain[1] if len(self.chain) > 1 else None


def _no_float(text):
    raise ManifestError('number %s is not an integer' % text)


def _unique_keys(pairs):
    """An object from its members; a repeated key is refused, since the
    checksum covers only the member a parser happens to keep."""
    document = {}
    for key, value in pairs:
        if key in document:
            raise ManifestError('key %r appears twice' % key)
        document[key] = value
    return document


def _checksum(document):
    body = {k: v for k, v in document.items() if k != 'checksum'}
    return canonical_json.digest(body)


def _mac(document, mac_key):
    """Keyed BLAKE3 of everything but the checksum and the MAC itself."""
    body = {k: v for k, v in document.items() if k not in ('checksum', 'mac')}
    return canonical_json.digest(body, mac_key)


def _require(condition, reason, *args):
    if not condition:
        raise ManifestError(reason % args if args else reason)


def _int(document, key, low=0, high=MAX_VOLUME_BYTES):
    value = document.get(key)
    _require(type(value) is int and low <= value <= high,
             '%s must be an integer in [%d, %d], got %r', key, low, high,
             value)
    return value


def _materials_to_json(materials):
    return [materials.codec, materials.size, materials.stored,
            materials.digest]


def _materials_from_json(value):
    _require(isinstance(value, list) and len(value) == 4,
             'object materials must be a list of 4 items')
    name, size, stored, digest = value
    _require(name in codec.CODECS, 'unknown codec %r', name)
    for number in (size, stored):
        _require(type(number) is int and 0 <= number <= MAX_OBJECT_BYTES,
                 'object size %r out of range', number)
    _require(isinstance(digest, str) and _HEX_DIGEST.match(digest),
             'malformed digest %r', digest)
    return sealing.Materials(name, size, stored, digest)


def _parse(data):
    # Floats, NaN and Infinity are not part of the format: their text
    # would not survive the round trip that checksums are computed on.
    return json.loads(bytes(data).decode('utf-8'),
                      object_pairs_hook=_unique_keys, parse_float=_no_float,
                      parse_constant=_no_float)


def _load(data, expected_format):
    try:
        document = _parse(data)
    except ManifestError:
        raise
    except (UnicodeDecodeError, ValueError) as error:
        raise ManifestError('not valid JSON: %s' % error)
    _require(isinstance(document, dict), 'document is not a JSON object')
    _require(document.get('format') == expected_format,
             'format is %r, expected %r', document.get('format'),
             expected_format)
    _require(document.get('version') == VERSION,
             'format version %r is not supported (this reader knows %d)',
             document.get('version'), VERSION)
    _require(document.get('checksum') == _checksum(document),
             'checksum mismatch: the document was altered or damaged')
    return document


def _dump(document):
    document['checksum'] = _checksum(document)
    return canonical_json.encode(document, b'\n')


# --- segment indexes -------------------------------------------------------

def encode_index(backup_id, index):
    """Serialise a SegmentIndex of backup backup_id to bytes."""
    objects = []
    positions = {}
    extents = []
    for extent in index.extents:
        if extent.ref is None:
            position = -1
        else:
            key = (extent.ref.depth, extent.ref.number)
            position = positions.get(key)
            if position is None:
                position = positions[key] = len(objects)
                objects.append([extent.ref.depth, extent.ref.number] +
                               _materials_to_json(extent.ref.materials))
        extents.append([extent.offset, extent.length, position,
                        extent.object_offset])
    return _dump({
        'format': INDEX_FORMAT,
        'version': VERSION,
        'backup_id': backup_id,
        'segment': index.number,
        'offset': index.offset,
        'length': index.length,
        'block_size': index.block_size,
        'fingerprint_algorithm': FINGERPRINT_ALGORITHM,
        # Bytes, spliced into the JSON as they are (canonical_json).
        'fingerprints': base64.b64encode(index.fingerprints),
        'objects': objects,
        'extents': extents,
    })


def decode_index(data, backup_id, segment, chain_length, block_size=None):
    """Parse and validate a segment index against its manifest entry (and
    the manifest's block_size, when given)."""
    document = _load(data, INDEX_FORMAT)
    _require(document.get('backup_id') == backup_id,
             'index belongs to backup %r, expected %r',
             document.get('backup_id'), backup_id)
    _require(document.get('segment') == segment.number,
             'index is segment %r, expected %d', document.get('segment'),
             segment.number)
    offset = _int(document, 'offset')
    length = _int(document, 'length')
    _require(offset == segment.offset and length == segment.length,
             'index covers [%d, +%d), the manifest says [%d, +%d)',
             offset, length, segment.offset, segment.length)
    expected_block_size = block_size
    block_size = _int(document, 'block_size', 1, MAX_OBJECT_BYTES)
    _require(expected_block_size in (None, block_size),
             'index has blocks of %d bytes, the manifest %r', block_size,
             expected_block_size)
    _require(document.get('fingerprint_algorithm') == FINGERPRINT_ALGORITHM,
             'unknown fingerprint algorithm %r',
             document.get('fingerprint_algorithm'))
    try:
        # As base64.b64decode(validate=True) does, without first copying
        # the string into bytes.
        fingerprints = binascii.a2b_base64(document.get('fingerprints', ''),
                                           strict_mode=True)
    except (binascii.Error, TypeError, ValueError):
        raise ManifestError('fingerprints are not valid base64')
    blocks = -(-length // block_size)
    _require(len(fingerprints) == blocks * FINGERPRINT_SIZE,
             'index has %d bytes of fingerprints for %d blocks',
             len(fingerprints), blocks)

    refs = []
    raw_objects = document.get('objects')
    _require(isinstance(raw_objects, list), 'objects must be a list')
    for item in raw_objects:
        _require(isinstance(item, list) and len(item) == 6,
                 'object entry must be a list of 6 items')
        depth, number = item[0], item[1]
        _require(type(depth) is int and 0 <= depth < chain_length,
                 'object refers to chain position %r of a chain of %d',
                 depth, chain_length)
        _require(type(number) is int and 0 <= number < 1 << 40,
                 'object number %r out of range', number)
        refs.append(ObjectRef(depth, number, _materials_from_json(item[2:])))

    extents = []
    position = offset
    raw_extents = document.get('extents')
    _require(isinstance(raw_extents, list), 'extents must be a list')
    for item in raw_extents:
        _require(isinstance(item, list) and len(item) == 4 and
                 all(type(v) is int for v in item),
                 'extent must be a list of 4 integers, got %r', item)
        start, size, which, object_offset = item
        _require(start == position,
                 'extent at %d leaves a gap or overlaps (expected %d)',
                 start, position)
        _require(0 < size <= length and start + size <= offset + length,
                 'extent [%d, +%d) leaves the segment', start, size)
        if which == -1:
            ref = None
            _require(object_offset == 0, 'zero extent with an offset')
        else:
            _require(0 <= which < len(refs),
                     'extent refers to object %d of %d', which, len(refs))
            ref = refs[which]
            _require(0 <= object_offset and
                     object_offset + size <= ref.materials.size,
                     'extent reads [%d, +%d) of an object of %d bytes',
                     object_offset, size, ref.materials.size)
        extents.append(Extent(start, size, ref, object_offset))
        position += size
    _require(position == offset + length,
             'extents end at %d, the segment at %d', position,
             offset + length)
    return SegmentIndex(segment.number, offset, length, block_size,
                        fingerprints, extents)


# --- manifests ------------------------------------------------------------

def encode_manifest(manifest, mac_key=None):
    """Serialise a manifest; with mac_key (encrypted backups) add a MAC
    that only the key's holder can compute."""
    document = {
        'format': FORMAT,
        'version': VERSION,
        'backup_id': manifest.backup_id,
        'volume_id': manifest.volume_id,
        'chain': manifest.chain,
        'created_at': manifest.created_at,
        'size': manifest.size,
        'block_size': manifest.block_size,
        'object_size': manifest.object_size,
        'digest_algorithm': sealing.DIGEST_ALGORITHM,
        'segments': [[s.number, s.offset, s.length] +
                     _materials_to_json(s.materials)
                     for s in manifest.segments],
        'volume_meta': manifest.volume_meta,
        'stats': manifest.stats,
        'encryption': manifest.encryption,
        'fingerprint_key': manifest.fingerprint_key_owner,
        'sealed_volume_meta': manifest.sealed_volume_meta,
    }
    if mac_key is not None:
        document['mac'] = _mac(document, mac_key)
    return _dump(document)


def check_mac(data, mac_key):
    """Raise ManifestError unless the manifest's MAC was made with
    mac_key.  data must already have passed decode_manifest."""
    document = _parse(data)
    mac = document.get('mac')
    # In constant time: a forger must not learn how much of a guess was
    # right.
    _require(isinstance(mac, str) and
             hmac.compare_digest(mac.encode('ascii', 'replace'),
                                 _mac(document, mac_key).encode('ascii')),
             'MAC mismatch: the manifest was altered, or the key is not '
             'this backup\'s')


def decode_manifest(data, backup_id):
    """Parse and validate the manifest of backup backup_id."""
    document = _load(data, FORMAT)
    _require(document.get('backup_id') == backup_id,
             'manifest belongs to backup %r, expected %r',
             document.get('backup_id'), backup_id)
    _require(document.get('digest_algorithm') == sealing.DIGEST_ALGORITHM,
             'unknown digest algorithm %r', document.get('digest_algorithm'))
    chain = document.get('chain')
    _require(isinstance(chain, list) and 0 < len(chain) <= MAX_CHAIN and
             all(isinstance(i, str) and _ID.match(i) for i in chain),
             'chain must be a non-empty list of backup IDs')
    _require(chain[0] == backup_id, 'chain does not start with the backup')
    _require(len(set(chain)) == len(chain), 'chain repeats a backup')
    size = _int(document, 'size')
    block_size = _int(document, 'block_size', 1, MAX_OBJECT_BYTES)
    object_size = _int(document, 'object_size', 1, MAX_OBJECT_BYTES)
    volume_meta = document.get('volume_meta')
    _require(volume_meta is None or isinstance(volume_meta, str),
             'volume_meta must be a string or null')
    stats = document.get('stats', {})
    _require(isinstance(stats, dict), 'stats must be an object')
    created_at = document.get('created_at')
    _require(created_at is None or isinstance(created_at, str),
             'created_at must be a string')
    volume_id = document.get('volume_id')
    _require(volume_id is None or isinstance(volume_id, str),
             'volume_id must be a string')

    encryption = document.get('encryption')
    if encryption is not None:
        _require(isinstance(encryption, dict) and
                 encryption.get('algorithm') == crypto.ALGORITHM and
                 encryption.get('kdf') == crypto.KDF and
                 isinstance(encryption.get('key_id'), str) and
                 _KEY_ID.match(encryption['key_id']),
                 'unsupported encryption %r', encryption)
        _require(isinstance(document.get('mac'), str),
                 'an encrypted backup\'s manifest must carry a MAC')
    sealed_volume_meta = document.get('sealed_volume_meta')
    _require(sealed_volume_meta is None or
             (isinstance(sealed_volume_meta, str) and encryption is not None
              and volume_meta is None),
             'sealed_volume_meta belongs to encrypted backups only')
    fingerprint_key_owner = document.get('fingerprint_key')
    _require(fingerprint_key_owner is None or fingerprint_key_owner in chain,
             'fingerprint key owner %r is not in the chain',
             fingerprint_key_owner)

    segments = []
    position = 0
    raw_segments = document.get('segments')
    _require(isinstance(raw_segments, list), 'segments must be a list')
    for number, item in enumerate(raw_segments):
        _require(isinstance(item, list) and len(item) == 7,
                 'segment entry must be a list of 7 items')
        _require(item[0] == number, 'segment %r out of order', item[0])
        _require(item[1] == position, 'segment %d starts at %r, expected %d',
                 number, item[1], position)
        _require(type(item[2]) is int and 0 < item[2] <= size - position,
                 'segment %d has a bad length %r', number, item[2])
        segments.append(SegmentRef(number, position, item[2],
                                   _materials_from_json(item[3:])))
        position += item[2]
    _require(position == size, 'segments cover %d bytes of %d', position,
             size)
    result = Manifest(backup_id, volume_id, chain, created_at, size,
                      block_size, object_size, segments, volume_meta, stats,
                      encryption, fingerprint_key_owner)
    result.sealed_volume_meta = sealed_volume_meta
    return result
