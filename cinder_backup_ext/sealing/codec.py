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
import functools
import zlib

import zstandard

from cinder_backup_ext.i18n import _
from cinder_backup_ext.runtime import buffers

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
# Level 3 alone would match within 2 MiB only; objects are compressed
# separately, so the window spans the whole object instead (up to 2**27
# bytes, what every zstd decoder accepts by default).  On the benchmark's
# log-like text in 8 MiB objects that stores 5.1% of the data instead of
# 6.3%, at the same speed, and a decoder needs no more memory than the
# object it returns.
ZSTD_MAX_WINDOW_LOG = 27
# Objects up to 1 MiB share one kind of stream; zstd narrows the window to
# a smaller input by itself.
ZSTD_MIN_WINDOW_LOG = 20

# Free lists of zstd (de)compressors by kind and window log, kept for the
# life of the process.  A zstd stream holds a window buffer as big as the
# object; made anew per object on whichever native thread runs it, those
# buffers ended up cached in the allocator's arenas of dozens of threads.
# Reused, there are only ever as many as objects (de)compressed at once.
_streams = {}


class CodecError(ValueError):
    pass


def canonical(algorithm):
    """Cinder's option value -> one of CODECS; ValueError if unknown."""
    try:
        return _ALIASES[(algorithm or 'none').lower()]
    except KeyError:
        raise CodecError(_('unsupported compression algorithm: %s')
                         % algorithm)


def _window_log(size):
    return min(ZSTD_MAX_WINDOW_LOG,
               max(ZSTD_MIN_WINDOW_LOG, (size - 1).bit_length()))


def _zstd_compressor(window_log):
    params = zstandard.ZstdCompressionParameters.from_level(
        ZSTD_LEVEL, source_size=1 << window_log, window_log=window_log)
    return zstandard.ZstdCompressor(compression_params=params)


def _zstd_decompressor(window_log):
    # A frame asking for a bigger window than the object needs is refused
    # rather than allocated.
    return zstandard.ZstdDecompressor(max_window_size=1 << window_log)


def _streams_for(make, size):
    """The free list of streams made by make() for objects of size."""
    key = (make, _window_log(size))
    free = _streams.get(key)
    if free is None:
        # setdefault is atomic: two threads get the same list.
        free = _streams.setdefault(key, buffers.FreeList(
            functools.partial(make, key[1])))
    return free


def compress(codec, data):
    """Return (codec actually used, stored bytes).

    Data that does not shrink is stored as is, recorded as 'none', so
    incompressible volumes cost no decompression on restore.
    """
    return compress_into(codec, data, bytearray(len(data)))


def compress_into(codec, data, out):
    """compress(), with zstd writing into out instead of a new buffer.

    out is a writable buffer of at least len(data) bytes; the stored bytes
    returned are then a memoryview of it (or data itself, when it does not
    shrink), valid until out is written again.  Other codecs allocate
    their output.
    """
    size = len(data)
    if codec == NONE:
        return NONE, data
    if codec == ZSTD:
        view = memoryview(out)[:size]
        with _streams_for(_zstd_compressor, size).borrow() as compressor, \
                compressor.stream_reader(data, size=size) as reader:
            # Stops when the output is as big as the input: it is then
            # stored as is.
            packed = view[:buffers.fill(reader.readinto, view)]
    elif codec == ZLIB:
        packed = zlib.compress(data)
    elif codec == BZ2:
        packed = bz2.compress(data)
    else:
        raise CodecError(_('unknown codec %s') % codec)
    if len(packed) >= size:
        return NONE, data
    return codec, packed


def decompress_into(codec, data, size, out):
    """decompress(), with zstd writing into out instead of a new buffer.

    out is a writable buffer of at least size + 1 bytes; the result is a
    memoryview of it (or data itself for 'none'), valid until out is
    written again.  Other codecs allocate as decompress() does.
    """
    if codec != ZSTD:
        return decompress(codec, data, size)
    # Reading one byte past size catches a stream that is longer.
    view = memoryview(out)[:size + 1]
    try:
        with _streams_for(_zstd_decompressor, size).borrow() as decoder, \
                decoder.stream_reader(data) as reader:
            filled = buffers.fill(reader.readinto, view)
    except Exception as error:
        raise CodecError(_('cannot decompress %(codec)s data: %(err)s')
                         % {'codec': codec, 'err': error})
    if filled != size:
        raise CodecError(_('decompressed to %(got)d bytes, expected '
                           '%(want)d') % {'got': filled, 'want': size})
    return view[:size]


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
