#!/usr/bin/env python3
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

"""Memory of the worst segment index: the figure in backup_pipeline_depth.

A segment covers OBJECTS_PER_SEGMENT objects of backup_object_size (8 GiB
with the defaults), one fingerprint per block of
backup_sha_block_size_bytes (32 KiB: 262144 blocks).  The worst index is
fully fragmented: every block an extent of its own, alternating between a
slice of a stored object and zeros, so that no two extents merge.  This
builds it, encodes and decodes it with the repository's own code, and
reports (tracemalloc) the memory of the decoded index that a backup or
restore holds, the peaks of encoding and decoding, and the encoded size.

    python tools/measure_index_memory.py [--objects N] [--block-size B]

--objects is how many distinct stored objects the extents refer to: 1024
(the default) when they are the segment's own objects; up to one per data
extent in a long chain of incrementals whose blocks each come from a
different ancestor's object.
"""

import argparse
import gc
import random
import sys
import tracemalloc

from cinder_backup_ext.repository import manifest
from cinder_backup_ext.sealing import sealing

MiB = 1 << 20


def worst_index(blocks, block_size, object_count, object_size):
    refs = [manifest.ObjectRef(0, n, sealing.Materials(
        'zstd', object_size, object_size // 2,
        random.Random(n).randbytes(32).hex()))
        for n in range(object_count)]
    extents = []
    data_extents = 0
    for block in range(blocks):
        offset = block * block_size
        if block % 2:
            extents.append(manifest.Extent(offset, block_size, None, 0))
            continue
        ref = refs[data_extents % object_count]
        # A different slice of each object, so that nothing repeats.
        object_offset = (data_extents // object_count * block_size
                         % (object_size - block_size + 1))
        extents.append(manifest.Extent(offset, block_size, ref,
                                       object_offset))
        data_extents += 1
    # Hashes look random: the encoded index does not compress them.
    fingerprints = random.Random(0).randbytes(
        blocks * manifest.FINGERPRINT_SIZE)
    return manifest.SegmentIndex(0, 0, blocks * block_size, block_size,
                                 fingerprints, extents)


def measured(function):
    """(result, bytes the result retains, peak bytes during the call)."""
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    result = function()
    gc.collect()
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result, current - before, peak - before


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--objects', type=int, default=1024,
                        help='distinct objects the extents refer to '
                             '(default: %(default)s)')
    parser.add_argument('--objects-per-segment', type=int, default=1024)
    parser.add_argument('--object-size', type=int, default=8 * MiB)
    parser.add_argument('--block-size', type=int, default=32 * 1024)
    args = parser.parse_args(argv)
    blocks = (args.objects_per_segment * args.object_size //
              args.block_size)
    built_index, built, _ = measured(lambda: worst_index(
        blocks, args.block_size, args.objects, args.object_size))
    encoded, _, encode_peak = measured(
        lambda: manifest.encode_index('backup-1', built_index))
    stored, _materials = sealing.seal_object('zstd', encoded)
    segment = manifest.SegmentRef(0, 0, built_index.length, None)
    built_index = None
    decoded, held, decode_peak = measured(
        lambda: manifest.decode_index(encoded, 'backup-1', segment, 1))
    offsets, offsets_held, _ = measured(
        lambda: [extent.offset for extent in decoded.extents])
    print('segment: %d objects x %d MiB = %d GiB, %d blocks of %d KiB, '
          '%d extents referring to %d objects'
          % (args.objects_per_segment, args.object_size // MiB,
             args.objects_per_segment * args.object_size >> 30, blocks,
             args.block_size // 1024, len(decoded.extents), args.objects))
    print('index as built by a backup:   %7.1f MiB' % (built / MiB))
    print('encoded (JSON, uncompressed): %7.1f MiB' % (len(encoded) / MiB))
    print('stored (zstd):                %7.1f MiB' % (len(stored) / MiB))
    print('peak while encoding:          %7.1f MiB' % (encode_peak / MiB))
    print('peak while decoding:          %7.1f MiB' % (decode_peak / MiB))
    print('decoded index held:           %7.1f MiB' % (held / MiB))
    print('  + extent offsets (parent):  %7.1f MiB' % (offsets_held / MiB))
    print('per block of the segment: %d bytes held decoded, %d at the '
          'decoding peak' % (held / blocks, decode_peak / blocks))
    return 0


if __name__ == '__main__':
    sys.exit(main())
