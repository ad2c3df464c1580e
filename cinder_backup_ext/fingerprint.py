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

from cinder_backup_ext import manifest

SIZE = manifest.FINGERPRINT_SIZE
# Chunks up to this size are first compared whole against zeros (a cached
# zero buffer of the same size), which costs one memcmp.
_ZERO_FAST_PATH_LIMIT = 64 << 20


def block_fingerprint(block):
    return blake3.blake3(block, max_threads=1).digest()


@functools.lru_cache(maxsize=8)
def zero_block(size):
    return bytes(size)


@functools.lru_cache(maxsize=8)
def zero_fingerprint(size):
    return block_fingerprint(zero_block(size))


def scan(data, block_size):
    """Return (fingerprints, zero flags) for the blocks of data.

    An all-zero chunk, common in thin volumes, is answered without hashing.
    """
    view = memoryview(data)
    length = len(view)
    blocks = -(-length // block_size)
    if length <= _ZERO_FAST_PATH_LIMIT and data == zero_block(length):
        full, rest = divmod(length, block_size)
        prints = zero_fingerprint(block_size) * full
        if rest:
            prints += zero_fingerprint(rest)
        return prints, [True] * blocks
    prints = []
    zeros = []
    for start in range(0, length, block_size):
        block = view[start:start + block_size]
        if block == zero_block(len(block)):
            zeros.append(True)
            prints.append(zero_fingerprint(len(block)))
        else:
            zeros.append(False)
            prints.append(block_fingerprint(block))
    return b''.join(prints), zeros
