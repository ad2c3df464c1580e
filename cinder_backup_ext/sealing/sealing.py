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

"""Sealing: turn plaintext into a stored object and back, verified.

Owns the per-object transform chain (compress, encrypt when the backup is
encrypted, then digest of what is stored) and its materials: codec,
plaintext size, stored size and digest.
Opening checks size and digest before any decompression, so nothing
unverified reaches a decoder or a volume.  Runs on native threads: no
logging here.
"""

import collections
import mmap

import blake3

from cinder_backup_ext.runtime import buffers
from cinder_backup_ext.sealing import codec
from cinder_backup_ext.sealing import crypto

DIGEST_ALGORITHM = 'blake3'

# What is needed to open one stored object.
Materials = collections.namedtuple('Materials',
                                   'codec size stored digest')


class SealError(ValueError):
    pass


def digest(data):
    return blake3.blake3(data, max_threads=1).hexdigest()


class Scratch(object):
    """Buffers for one sealing at a time, reused by the next.

    The gathered new blocks of a chunk and an object's compressed and
    encrypted forms are written into these rather than into fresh buffers
    the size of an object: those the allocator keeps per native thread,
    and cinder-backup has dozens, so memory would follow the thread count
    rather than the options.
    """

    def __init__(self):
        self._buffers = {}

    def buffer(self, purpose, size):
        buffer = self._buffers.get(purpose)
        if buffer is None or len(buffer) < size:
            # Mapped directly: pages count only once written, and go back
            # to the kernel with the job rather than to a thread's arena.
            buffer = self._buffers[purpose] = mmap.mmap(-1, max(1, size))
        return buffer


class ScratchPool(buffers.FreeList):
    """The Scratch buffers of one job, lent to one worker at a time."""

    def __init__(self):
        super(ScratchPool, self).__init__(Scratch)


def seal_object(codec_name, data, cipher=None, name=None, offset=0,
                scratch=None):
    """Return (stored bytes, Materials) for plaintext data.

    data is bytes-like or a list of bytes-like pieces stored as one.
    Compression comes first: ciphertext does not compress.  With a cipher
    the object is AES-GCM sealed under its backup, name and offset.  With
    a scratch the result lives in its buffers: write it out before the
    scratch seals again.
    """
    scratch = scratch or Scratch()
    plain = _gather(data, scratch)
    used, stored = codec.compress_into(
        codec_name, plain, scratch.buffer('packed', len(plain)))
    if cipher is not None:
        stored = cipher.seal(name, offset, stored, scratch.buffer(
            'sealed', len(stored) + crypto.OVERHEAD_BYTES))
    return stored, Materials(used, len(plain), len(stored), digest(stored))


def _gather(data, scratch):
    """data as one bytes-like object: a list of pieces is copied into the
    scratch's buffer, a single piece is used as it is."""
    if not isinstance(data, list):
        return data
    if len(data) == 1:
        return data[0]
    size = sum(len(piece) for piece in data)
    view = memoryview(scratch.buffer('plain', size))
    filled = 0
    for piece in data:
        view[filled:filled + len(piece)] = piece
        filled += len(piece)
    return view[:size]


def open_object(stored, materials, cipher=None, name=None, offset=0,
                scratch=None):
    """Return the plaintext of a stored object after verifying it.

    With a scratch the plaintext may live in its buffers: use it before
    the scratch opens or seals again.
    """
    if len(stored) != materials.stored:
        raise SealError('stored size is %d bytes, expected %d'
                        % (len(stored), materials.stored))
    if digest(stored) != materials.digest:
        raise SealError('%s digest mismatch' % DIGEST_ALGORITHM)
    if cipher is not None:
        try:
            stored = cipher.open(name, offset, stored, None if scratch is None
                                 else scratch.buffer('opened', len(stored)))
        except crypto.DecryptionError as error:
            raise SealError(str(error))
    try:
        if scratch is None:
            return codec.decompress(materials.codec, stored, materials.size)
        return codec.decompress_into(materials.codec, stored, materials.size,
                                     scratch.buffer('plain',
                                                    materials.size + 1))
    except codec.CodecError as error:
        raise SealError(str(error))
