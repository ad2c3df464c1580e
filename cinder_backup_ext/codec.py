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

"""Compression steps: encapsulate before storing, decapsulate after reading.

Owns the mapping from Cinder's backup_compression_algorithm names to codecs.
Decompression is bounded by the plaintext length recorded in the metadata,
so a damaged or hostile object cannot expand without limit.
"""

import bz2
import zlib

import zstandard

from cinder_backup_ext.i18n import _

NONE = 'none'
ZLIB = 'zlib'
BZ2 = 'bz2'
ZSTD = 'zstd'
CODECS = (NONE, ZLIB, BZ2, ZSTD)

# Cinder's accepted spellings of backup_compression_algorithm.
_ALIASES = {'none': NONE, 'off': NONE, 'no': NONE,
            'zlib': ZLIB, 'gzip': ZLIB,
            'bz2': BZ2, 'bzip2': BZ2,
            'zstd': ZSTD}

# Cinder's own driver uses each library's default level; so do we, so that
# stored sizes compare like with like.
ZSTD_LEVEL = 3


class CodecError(ValueError):
    pass


def canonical(algorithm):
    """Cinder's option value -> one of CODECS; ValueError if unknown."""
    try:
        return _ALIASES[(algorithm or 'none').lower()]
    except KeyError:
        raise CodecError(_('unsupported compression algorithm: %s')
                         % algorithm)


def compress(codec, data):
    """Return (codec actually used, stored bytes).

    Data that does not shrink is stored as is, recorded as 'none', so
    incompressible volumes cost no decompression on restore.
    """
    if codec == NONE:
        return NONE, data
    if codec == ZSTD:
        packed = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(data)
    elif codec == ZLIB:
        packed = zlib.compress(data)
    elif codec == BZ2:
        packed = bz2.compress(data)
    else:
        raise CodecError(_('unknown codec %s') % codec)
    if len(packed) >= len(data):
        return NONE, data
    return codec, packed


def decompress(codec, data, size):
    """Return exactly size bytes decoded from data, or raise CodecError."""
    try:
        if codec == NONE:
            plain = data
        elif codec == ZSTD:
            plain = zstandard.ZstdDecompressor().decompress(
                data, max_output_size=max(size, 1))
        elif codec == ZLIB:
            decoder = zlib.decompressobj()
            plain = decoder.decompress(data, size)
            if decoder.unconsumed_tail or not decoder.eof:
                raise CodecError(_('zlib stream longer than recorded'))
        elif codec == BZ2:
            decoder = bz2.BZ2Decompressor()
            plain = decoder.decompress(data, max_length=size)
            if not decoder.eof:
                raise CodecError(_('bz2 stream longer than recorded'))
        else:
            raise CodecError(_('unknown codec %s') % codec)
    except CodecError:
        raise
    except Exception as error:
        raise CodecError(_('cannot decompress %(codec)s data: %(err)s')
                         % {'codec': codec, 'err': error})
    if len(plain) != size:
        raise CodecError(_('decompressed to %(got)d bytes, expected '
                           '%(want)d') % {'got': len(plain), 'want': size})
    return plain
