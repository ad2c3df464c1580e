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

"""A second reader of the repository format, written from
doc/source/format.rst alone.

It imports nothing from cinder_backup_ext: if the specification is not
enough to restore a backup, this reader fails, and the specification is
what needs fixing.  It restores a chain into a file, checking everything
the specification says a reader must check, and raises FormatError naming
backup, object and reason otherwise.  It is meant for small test volumes:
it keeps one segment's objects in memory.

What comes from the Cinder database is passed in as Member objects, newest
first: ID, container, service_metadata and, for an encrypted backup, the
key bytes from the key manager.
"""

import base64
import binascii
import bz2
import hashlib
import hmac
import json
import os
import re
import zlib

import blake3
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
import zstandard

# "Where a backup lives" and "Encrypted backups"
FORMAT_MARK = 'cinder_backup_ext:2'
BACKUP_ID = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$')
CONTAINER_COMPONENT = re.compile(r'^[A-Za-z0-9 _.@+-]+$')
HEX_DIGEST = re.compile(r'^[0-9a-f]{64}$')
LABEL = 'cinder-backup-ext/2 '
VOLUME_META_NAME = 'manifest.json#volume_meta'
OBJECTS_PER_GROUP = 1024
FINGERPRINT = 32
NONCE = 12
TAG = 16
CODECS = ('none', 'zlib', 'bz2', 'zstd')
# "Backups in Cinder's format 1.0.0"
LEGACY_CODECS = {'none': 'none', 'off': 'none', 'no': 'none',
                 'zlib': 'zlib', 'gzip': 'zlib', 'bz2': 'bz2',
                 'bzip2': 'bz2', 'zstd': 'zstd'}
LEGACY_NAME = re.compile(r'^[A-Za-z0-9_.-]+$')
MD5 = re.compile(r'^[0-9a-f]{32}$')


class FormatError(Exception):
    def __init__(self, backup_id, name, reason):
        super().__init__('backup %s: %s: %s' % (backup_id, name, reason))
        self.backup_id = backup_id
        self.name = name
        self.reason = reason


class Member(object):
    """One backup of the chain, as the database and key manager know it."""

    def __init__(self, backup_id, container, key=None, key_id=None,
                 prefix=None):
        self.backup_id = backup_id
        self.container = container
        self.key = key
        self.key_id = key_id
        self.prefix = prefix

    @classmethod
    def from_record(cls, backup_id, container, service_metadata, keys):
        """keys: {key ID: key bytes}, what the key manager would give."""
        if service_metadata == FORMAT_MARK:
            return cls(backup_id, container)
        if service_metadata.startswith(FORMAT_MARK + ':'):
            key_id = service_metadata[len(FORMAT_MARK) + 1:]
            return cls(backup_id, container, keys[key_id], key_id)
        return cls(backup_id, container, prefix=service_metadata)

    @property
    def legacy(self):
        return self.prefix is not None


# --- names ----------------------------------------------------------------

def check_container(container):
    if not isinstance(container, str) or not container or \
            container.startswith('/'):
        raise ValueError('bad container %r' % (container,))
    for part in container.split('/'):
        if part in ('', '.', '..') or not CONTAINER_COMPONENT.match(part):
            raise ValueError('bad container component %r' % part)


def backup_directory(container, backup_id):
    check_container(container)
    if not BACKUP_ID.match(backup_id) or '..' in backup_id:
        raise ValueError('bad backup ID %r' % backup_id)
    h = hashlib.sha256(backup_id.encode('utf-8')).hexdigest()
    return '%s/%s/%s/%s' % (container, h[0:2], h[2:4], backup_id)


def data_name(number):
    return 'data/%05d/%08d' % (number // OBJECTS_PER_GROUP, number)


def index_name(number):
    return 'index/%08d' % number


# --- canonical JSON ---------------------------------------------------------

def _no_number(text):
    raise ValueError('number %s is not an integer' % text)


def _unique(pairs):
    document = {}
    for key, value in pairs:
        if key in document:
            raise ValueError('key %r appears twice' % key)
        document[key] = value
    return document


def parse(data):
    return json.loads(data.decode('utf-8'), object_pairs_hook=_unique,
                      parse_float=_no_number, parse_constant=_no_number)


def _string(text):
    out = ['"']
    for char in text:
        code = ord(char)
        if char == '"':
            out.append('\\"')
        elif char == '\\':
            out.append('\\\\')
        elif char in '\b\f\n\r\t':
            out.append({'\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r',
                        '\t': '\\t'}[char])
        elif 0x20 <= code <= 0x7e:
            out.append(char)
        elif code <= 0xffff:
            out.append('\\u%04x' % code)
        else:
            code -= 0x10000
            out.append('\\u%04x\\u%04x' % (0xd800 + (code >> 10),
                                           0xdc00 + (code & 0x3ff)))
    out.append('"')
    return ''.join(out)


def canonical(value):
    """The canonical form of the spec, written out rule by rule rather
    than through a JSON library's options."""
    if value is None:
        return b'null'
    if value is True:
        return b'true'
    if value is False:
        return b'false'
    if type(value) is int:
        return str(value).encode('ascii')
    if isinstance(value, str):
        return _string(value).encode('ascii')
    if isinstance(value, list):
        return b'[' + b','.join(canonical(v) for v in value) + b']'
    if isinstance(value, dict):
        return b'{' + b','.join(
            canonical(k) + b':' + canonical(value[k])
            for k in sorted(value)) + b'}'
    raise ValueError('%r has no canonical form' % (value,))


def _without(document, *keys):
    return {k: v for k, v in document.items() if k not in keys}


# --- sealed objects ---------------------------------------------------------

def derive(key, purpose):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=(LABEL + purpose).encode('ascii')).derive(key)


def associated_data(backup_id, name, offset):
    return ('%s\0%s\0%s\0%d' % (LABEL, backup_id, name, offset)).encode(
        'utf-8')


def decrypt(key, backup_id, name, offset, stored):
    if len(stored) < NONCE + TAG:
        raise ValueError('too short for AES-GCM')
    try:
        return AESGCM(derive(key, 'objects')).decrypt(
            stored[:NONCE], stored[NONCE:],
            associated_data(backup_id, name, offset))
    except InvalidTag:
        raise ValueError('AES-GCM authentication failed')


def decompress(codec, data, size):
    if codec == 'none':
        plain = data
    elif codec == 'zlib':
        decoder = zlib.decompressobj()
        plain = decoder.decompress(data, size)
        if decoder.unconsumed_tail or not decoder.eof:
            raise ValueError('zlib stream longer than %d bytes or cut short'
                             % size)
    elif codec == 'bz2':
        decoder = bz2.BZ2Decompressor()
        plain = decoder.decompress(data, max_length=size)
        if not decoder.eof:
            raise ValueError('bz2 stream longer than %d bytes or cut short'
                             % size)
    elif codec == 'zstd':
        reader = zstandard.ZstdDecompressor().stream_reader(data)
        pieces = []
        got = 0
        # One byte more than recorded shows a frame that is too long.
        while got <= size:
            piece = reader.read(size + 1 - got)
            if not piece:
                break
            pieces.append(piece)
            got += len(piece)
        plain = b''.join(pieces)
    else:
        raise ValueError('unknown codec %r' % codec)
    if len(plain) != size:
        raise ValueError('decompressed to %d bytes, expected %d'
                         % (len(plain), size))
    return plain


def materials(value):
    if not (isinstance(value, list) and len(value) == 4):
        raise ValueError('materials must be 4 items')
    codec, size, stored, digest = value
    if codec not in CODECS:
        raise ValueError('unknown codec %r' % (codec,))
    for number in (size, stored):
        if type(number) is not int or number < 0:
            raise ValueError('bad size %r' % (number,))
    if not isinstance(digest, str) or not HEX_DIGEST.match(digest):
        raise ValueError('bad digest %r' % (digest,))
    return codec, size, stored, digest


def open_sealed(root, directory, backup_id, key, name, offset, found):
    """The verified plaintext of a sealed object, in the spec's order:
    stored length, digest, decryption, exact decompression."""
    codec, size, stored_size, digest = found
    try:
        with open(os.path.join(root, directory, name), 'rb') as f:
            stored = f.read()
    except OSError as error:
        raise FormatError(backup_id, name, 'cannot read: %s' % error)
    try:
        if len(stored) != stored_size:
            raise ValueError('stored size %d, expected %d'
                             % (len(stored), stored_size))
        if blake3.blake3(stored).hexdigest() != digest:
            raise ValueError('BLAKE3 digest mismatch')
        if key is not None:
            stored = decrypt(key, backup_id, name, offset, stored)
        return decompress(codec, stored, size)
    except (ValueError, zlib.error, OSError, EOFError,
            zstandard.ZstdError) as error:
        raise FormatError(backup_id, name, str(error))


# --- documents --------------------------------------------------------------

def _int(document, key, low=0):
    value = document.get(key)
    if type(value) is not int or value < low:
        raise ValueError('%s must be an integer >= %d, got %r'
                         % (key, low, value))
    return value


def load_document(data, expected_format):
    document = parse(data)
    if not isinstance(document, dict):
        raise ValueError('not a JSON object')
    if document.get('format') != expected_format:
        raise ValueError('format %r' % (document.get('format'),))
    if document.get('version') != 2:
        raise ValueError('version %r' % (document.get('version'),))
    expected = blake3.blake3(canonical(_without(document,
                                                'checksum'))).hexdigest()
    if document.get('checksum') != expected:
        raise ValueError('checksum mismatch')
    return document


class Manifest(object):
    pass


def read_manifest(root, member, db_chain):
    """Step 1 of "Restoring" for one member."""
    directory = backup_directory(member.container, member.backup_id)
    path = os.path.join(root, directory, 'manifest.json')
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError as error:
        raise FormatError(member.backup_id, 'manifest.json',
                          'cannot read: %s' % error)
    try:
        document = load_document(data, 'cinder-backup-ext')
        return _check_manifest(document, member, db_chain, directory)
    except (ValueError, UnicodeDecodeError) as error:
        raise FormatError(member.backup_id, 'manifest.json', str(error))


def _check_manifest(document, member, db_chain, directory):
    if document.get('backup_id') != member.backup_id:
        raise ValueError('belongs to %r' % (document.get('backup_id'),))
    if document.get('digest_algorithm') != 'blake3':
        raise ValueError('digest algorithm %r'
                         % (document.get('digest_algorithm'),))
    chain = document.get('chain')
    if not (isinstance(chain, list) and chain and
            all(isinstance(i, str) and BACKUP_ID.match(i) for i in chain)):
        raise ValueError('chain must be a list of backup IDs')
    if chain[0] != member.backup_id or len(set(chain)) != len(chain):
        raise ValueError('chain %r does not start with the backup, or '
                         'repeats one' % (chain,))
    if chain != db_chain:
        raise ValueError('chain %r, the database says %r'
                         % (chain, db_chain))
    result = Manifest()
    result.directory = directory
    result.chain = chain
    result.size = _int(document, 'size')
    result.block_size = _int(document, 'block_size', 1)
    result.object_size = _int(document, 'object_size', 1)
    volume_meta = document.get('volume_meta')
    if volume_meta is not None and not isinstance(volume_meta, str):
        raise ValueError('volume_meta must be a string or null')

    encryption = document.get('encryption')
    sealed = document.get('sealed_volume_meta')
    if member.key is None:
        if encryption is not None or sealed is not None:
            raise ValueError('encrypted according to the repository, plain '
                             'according to the database')
    else:
        if not isinstance(encryption, dict) or \
                encryption.get('algorithm') != 'AES-256-GCM' or \
                encryption.get('kdf') != 'HKDF-SHA256':
            raise ValueError('plain or unknown encryption %r, the database '
                             'names a key' % (encryption,))
        if member.key_id is not None and \
                encryption.get('key_id') != member.key_id:
            raise ValueError('key %r, the database says %r'
                             % (encryption.get('key_id'), member.key_id))
        mac = document.get('mac')
        expected = blake3.blake3(
            canonical(_without(document, 'checksum', 'mac')),
            key=derive(member.key, 'manifest')).hexdigest()
        if not isinstance(mac, str) or not hmac.compare_digest(
                mac.encode('ascii', 'replace'), expected.encode('ascii')):
            raise ValueError('MAC mismatch')
        if sealed is not None:
            if volume_meta is not None or not isinstance(sealed, str):
                raise ValueError('bad sealed_volume_meta')
            try:
                raw = base64.b64decode(sealed, validate=True)
            except binascii.Error:
                raise ValueError('sealed_volume_meta is not base64')
            volume_meta = decrypt(member.key, member.backup_id,
                                  VOLUME_META_NAME, 0, raw).decode('utf-8')
    result.volume_meta = volume_meta

    owner = document.get('fingerprint_key')
    if owner is not None and owner not in chain:
        raise ValueError('fingerprint_key %r is not in the chain' % (owner,))
    result.fingerprint_key = owner

    result.segments = []
    position = 0
    segments = document.get('segments')
    if not isinstance(segments, list):
        raise ValueError('segments must be a list')
    for number, item in enumerate(segments):
        if not (isinstance(item, list) and len(item) == 7):
            raise ValueError('segment entry must be 7 items')
        if item[0] != number or item[1] != position or \
                type(item[2]) is not int or item[2] <= 0:
            raise ValueError('segment %d is out of place: %r'
                             % (number, item[:3]))
        result.segments.append((number, position, item[2],
                                materials(item[3:])))
        position += item[2]
    if position != result.size:
        raise ValueError('segments cover %d bytes of %d'
                         % (position, result.size))
    return result


def read_index(root, member, manifest, segment):
    number, offset, length, found = segment
    name = index_name(number)
    data = open_sealed(root, manifest.directory, member.backup_id,
                       member.key, name, offset, found)
    try:
        return _check_index(load_document(data, 'cinder-backup-ext-index'),
                            member, manifest, segment)
    except (ValueError, UnicodeDecodeError) as error:
        raise FormatError(member.backup_id, name, str(error))


def _check_index(document, member, manifest, segment):
    number, offset, length, _found = segment
    if document.get('backup_id') != member.backup_id or \
            document.get('segment') != number or \
            document.get('offset') != offset or \
            document.get('length') != length:
        raise ValueError('index does not match its manifest entry')
    block_size = _int(document, 'block_size', 1)
    if document.get('fingerprint_algorithm') != 'blake3':
        raise ValueError('fingerprint algorithm %r'
                         % (document.get('fingerprint_algorithm'),))
    text = document.get('fingerprints')
    if not isinstance(text, str):
        raise ValueError('fingerprints must be a string')
    try:
        fingerprints = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise ValueError('fingerprints are not base64')
    if len(fingerprints) != FINGERPRINT * -(-length // block_size):
        raise ValueError('%d bytes of fingerprints for %d bytes'
                         % (len(fingerprints), length))
    objects = []
    raw_objects = document.get('objects')
    if not isinstance(raw_objects, list):
        raise ValueError('objects must be a list')
    for item in raw_objects:
        if not (isinstance(item, list) and len(item) == 6):
            raise ValueError('object entry must be 6 items')
        depth, object_number = item[0], item[1]
        if type(depth) is not int or not 0 <= depth < len(manifest.chain):
            raise ValueError('object depth %r' % (depth,))
        if type(object_number) is not int or object_number < 0:
            raise ValueError('object number %r' % (object_number,))
        objects.append((depth, object_number, materials(item[2:])))
    extents = []
    position = offset
    raw_extents = document.get('extents')
    if not isinstance(raw_extents, list):
        raise ValueError('extents must be a list')
    for item in raw_extents:
        if not (isinstance(item, list) and len(item) == 4 and
                all(type(v) is int for v in item)):
            raise ValueError('extent %r' % (item,))
        start, size, which, object_offset = item
        if start != position or size <= 0 or \
                start + size > offset + length:
            raise ValueError('extent %r does not tile the segment' % (item,))
        if which == -1:
            if object_offset != 0:
                raise ValueError('zero extent with an offset')
            extents.append((start, size, None, 0))
        else:
            if not 0 <= which < len(objects):
                raise ValueError('extent refers to object %d' % which)
            if object_offset < 0 or \
                    object_offset + size > objects[which][2][1]:
                raise ValueError('extent %r leaves its object' % (item,))
            extents.append((start, size, objects[which], object_offset))
        position += size
    if position != offset + length:
        raise ValueError('extents end at %d, the segment at %d'
                         % (position, offset + length))
    return block_size, fingerprints, extents


# --- restore ----------------------------------------------------------------

def restore(root, chain, target):
    """Restore chain (Members, newest first) into the file target, which
    is created or truncated; return the volume metadata or None."""
    if all(member.legacy for member in chain):
        return restore_legacy(root, chain, target)
    if any(member.legacy for member in chain):
        raise FormatError(chain[0].backup_id, '(chain)',
                          'the chain mixes formats')
    return restore_v2(root, chain, target)


def restore_v2(root, chain, target):
    ids = [member.backup_id for member in chain]
    manifests = [read_manifest(root, member, ids[depth:])
                 for depth, member in enumerate(chain)]
    newest, member = manifests[0], chain[0]
    fingerprint_key = None
    if newest.fingerprint_key is not None:
        owner = chain[ids.index(newest.fingerprint_key)]
        if owner.key is None:
            raise FormatError(member.backup_id, 'manifest.json',
                              'fingerprint_key names %s, which the database '
                              'records as plain' % owner.backup_id)
        fingerprint_key = derive(owner.key, 'fingerprints')
    with open(target, 'wb') as out:
        out.truncate(newest.size)
        for segment in newest.segments:
            block_size, fingerprints, extents = read_index(
                root, member, newest, segment)
            _restore_segment(root, chain, manifests, segment, block_size,
                             fingerprints, extents, fingerprint_key, out)
    return newest.volume_meta


def _fingerprint(block, key):
    if key is None:
        return blake3.blake3(block).digest()
    return blake3.blake3(block, key=key).digest()


def _restore_segment(root, chain, manifests, segment, block_size,
                     fingerprints, extents, fingerprint_key, out):
    _number, offset, length, _found = segment
    end = offset + length
    plaintexts = {}

    def plaintext(ref):
        depth, number, found = ref
        if (depth, number) not in plaintexts:
            holder = chain[depth]
            plaintexts[depth, number] = open_sealed(
                root, manifests[depth].directory, holder.backup_id,
                holder.key, data_name(number),
                number * manifests[depth].object_size, found)
        return plaintexts[depth, number]

    block = bytearray()
    block_start = offset
    sources = []
    for start, size, ref, object_offset in extents:
        if ref is None:
            data = bytes(size)
        else:
            data = plaintext(ref)[object_offset:object_offset + size]
            source = '%s/%s' % (chain[ref[0]].backup_id, data_name(ref[1]))
        used = 0
        while used < size:
            want = min(block_start + block_size, end) - block_start
            piece = data[used:used + want - len(block)]
            block += piece
            used += len(piece)
            if ref is not None and source not in sources:
                sources.append(source)
            if len(block) == want:
                index = (block_start - offset) // block_size
                expected = fingerprints[index * FINGERPRINT:
                                        (index + 1) * FINGERPRINT]
                if _fingerprint(bytes(block), fingerprint_key) != expected:
                    raise FormatError(
                        chain[0].backup_id, ', '.join(sources) or 'zeros',
                        'block at offset %d does not match its fingerprint'
                        % block_start)
                if any(block):
                    out.seek(block_start)
                    out.write(block)
                block_start += want
                block = bytearray()
                sources = []


# --- Cinder's format 1.0.0 --------------------------------------------------

def _legacy_objects(root, member):
    check_container(member.container)
    if not LEGACY_NAME.match(member.prefix) or member.prefix in ('.', '..'):
        raise FormatError(member.backup_id, member.prefix, 'bad prefix')
    name = '%s_metadata' % member.prefix
    try:
        with open(os.path.join(root, member.container, name), 'rb') as f:
            metadata = json.loads(f.read().decode('utf-8'))
        if metadata.get('version') != '1.0.0':
            raise ValueError('version %r' % (metadata.get('version'),))
        objects = []
        for entry in metadata['objects']:
            (object_name, info), = entry.items()
            if not LEGACY_NAME.match(object_name) or \
                    object_name in ('.', '..'):
                raise ValueError('bad object name %r' % object_name)
            offset, length = info['offset'], info['length']
            if type(offset) is not int or type(length) is not int or \
                    offset < 0 or length < 0:
                raise ValueError('bad extent of %s' % object_name)
            md5 = info.get('md5')
            if not isinstance(md5, str) or not MD5.match(md5):
                raise ValueError('object %s has no md5' % object_name)
            codec = LEGACY_CODECS[str(info['compression']).lower()]
            objects.append((object_name, offset, length, codec, md5))
        volume_meta = metadata.get('volume_meta')
    except (OSError, ValueError, KeyError, TypeError,
            AttributeError) as error:
        raise FormatError(member.backup_id, name, str(error))
    return objects, volume_meta


def _uncovered(covered, low, high):
    """The ranges of [low, high) that covered (one byte per volume byte)
    does not mark yet."""
    parts = []
    position = low
    while position < high:
        start = covered.find(0, position, high)
        if start < 0:
            break
        stop = covered.find(1, start, high)
        stop = high if stop < 0 else stop
        parts.append((start, stop))
        position = stop
    return parts


def restore_legacy(root, chain, target):
    listed = [(member,) + _legacy_objects(root, member) for member in chain]
    end = max((offset + length for _m, objects, _v in listed
               for _n, offset, length, _c, _d in objects), default=0)
    # Newest first: a byte belongs to the newest object covering it.
    covered = bytearray(end)
    work = []
    for member, objects, _meta in listed:
        for item in objects:
            _name, offset, length, _codec, _md5 = item
            parts = _uncovered(covered, offset, offset + length)
            if parts:
                work.append((member, item, parts))
                covered[offset:offset + length] = b'\x01' * length
    with open(target, 'wb') as out:
        out.truncate(end)
        for member, item, parts in work:
            name, offset, length, codec, md5 = item
            try:
                with open(os.path.join(root, member.container, name),
                          'rb') as f:
                    plain = decompress(codec, f.read(), length)
                if hashlib.md5(plain,
                               usedforsecurity=False).hexdigest() != md5:
                    raise ValueError('md5 mismatch')
            except (OSError, ValueError, zlib.error, EOFError,
                    zstandard.ZstdError) as error:
                raise FormatError(member.backup_id, name, str(error))
            for low, high in parts:
                out.seek(low)
                out.write(plain[low - offset:high - offset])
    for _member, _objects, meta in listed:
        if meta:
            return meta
    return None
