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

"""Restored data proven block by block against its fingerprints.

Owns the end-to-end check of a restore: every block it is about to write
hashes to the fingerprint that the backup's segment index recorded when
the volume was read, and every block of a zero extent is recorded as
zeros.  An object's digest and tag prove its stored bytes; this proves
what the decoders and the extent bookkeeping made of them.  Pure
computation for native threads: no logging, no I/O.
"""

from cinder_backup_ext.engine import fingerprint

_FP = fingerprint.SIZE


class Mismatch(ValueError):
    """A block differs from its fingerprint; offset is the volume's."""

    def __init__(self, offset, reason):
        super().__init__(reason)
        self.offset = offset


def _blocks(index, extent):
    """(first block, block count) of an extent, relative to its segment.

    Extents begin on block boundaries and end on one or at the segment's
    end (the volume's last block may be short): a writer makes them from
    whole blocks, so anything else is damage.
    """
    block_size = index.block_size
    start = extent.offset - index.offset
    end = start + extent.length
    if start % block_size or (end % block_size and
                              extent.offset + extent.length != index.end):
        raise Mismatch(extent.offset, 'extent [%d, +%d) does not cover '
                       'whole blocks of %d bytes'
                       % (extent.offset, extent.length, block_size))
    return start // block_size, -(-extent.length // block_size)


def _first_difference(actual, expected):
    for number in range(0, len(expected), _FP):
        if actual[number:number + _FP] != expected[number:number + _FP]:
            return number // _FP
    return 0


def check_data(index, extent, plaintext, key=None):
    """Raise Mismatch unless the extent's plaintext (a bytes-like object
    of extent.length bytes) matches the fingerprints of its blocks."""
    first, count = _blocks(index, extent)
    expected = index.fingerprints[first * _FP:(first + count) * _FP]
    view = memoryview(plaintext)
    block_size = index.block_size
    actual = b''.join(
        fingerprint.block_fingerprint(view[start:start + block_size], key)
        for start in range(0, len(view), block_size))
    if actual != expected:
        block = _first_difference(actual, expected)
        raise Mismatch(extent.offset + block * block_size,
                       'the restored block at volume offset %d does not '
                       'match the fingerprint recorded when it was backed '
                       'up' % (extent.offset + block * block_size))


def check_zeros(index, extent, key=None):
    """Raise Mismatch unless the index records a zero extent's blocks as
    zeros: a block recorded with data but mapped to zeros would restore
    as zeros in silence."""
    first, count = _blocks(index, extent)
    block_size = index.block_size
    tail = extent.length - (count - 1) * block_size
    expected = (fingerprint.zero_fingerprint(block_size, key) * (count - 1) +
                fingerprint.zero_fingerprint(tail, key))
    recorded = index.fingerprints[first * _FP:(first + count) * _FP]
    if recorded != expected:
        block = _first_difference(recorded, expected)
        raise Mismatch(extent.offset + block * block_size,
                       'the block at volume offset %d is mapped to zeros, '
                       'but its fingerprint is not that of zeros'
                       % (extent.offset + block * block_size))
