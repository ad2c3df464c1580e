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

"""Change-tracking fingerprints of volume blocks.

A fingerprint is the 32-byte BLAKE3 hash of one block (the last block of a
volume may be short).  BLAKE3 runs at several GB/s on one core here, about
three times SHA-256 with SHA-NI, so fingerprinting never limits a backup.
Runs on native threads: no logging.
"""

import functools

import blake3

from cinder_backup_ext.repository import manifest
from cinder_backup_ext.runtime import buffers

SIZE = manifest.FINGERPRINT_SIZE
# Chunks up to this size are first compared whole against zeros (a cached
# zero buffer of the same size), which costs one memcmp.
_ZERO_FAST_PATH_LIMIT = 64 << 20


def block_fingerprint(block, key=None):
    if key is None:
        return blake3.blake3(block, max_threads=1).digest()
    return blake3.blake3(block, key=key, max_threads=1).digest()


@functools.lru_cache(maxsize=16)
def zero_fingerprint(size, key=None):
    return block_fingerprint(buffers.zero_block(size), key)


def scan(data, block_size, key=None):
    """Return (fingerprints, zero flags) for the blocks of data.

    An all-zero chunk, common in thin volumes, is answered with one memcmp
    and no hashing.  Otherwise every block is hashed, and a block is zero
    exactly when its fingerprint is the zero block's: comparing 32-byte
    digests costs nothing, whereas comparing a memoryview slice with zeros
    runs at a few hundred MB/s in CPython.

    With a key the fingerprints are keyed BLAKE3: they reveal nothing of the
    blocks of an encrypted backup to whoever reads the repository.
    """
    length = len(data)
    full, rest = divmod(length, block_size)
    if length <= _ZERO_FAST_PATH_LIMIT and data == buffers.zero_block(length):
        prints = zero_fingerprint(block_size, key) * full
        if rest:
            prints += zero_fingerprint(rest, key)
        return prints, [True] * (full + (1 if rest else 0))
    view = memoryview(data)
    prints = [block_fingerprint(view[start:start + block_size], key)
              for start in range(0, length, block_size)]
    zero = zero_fingerprint(block_size, key)
    zeros = [fp == zero for fp in prints]
    if rest:
        zeros[-1] = prints[-1] == zero_fingerprint(rest, key)
    return b''.join(prints), zeros
