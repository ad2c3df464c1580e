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

"""Extent maps: walking, clipping, merging and inheriting their ranges.

Owns how a backup's volume map is walked: its segments that overlap a range,
the extents of a segment index within a range (with their offsets within
their objects), its zero extents apart from its data extents grouped per
stored object (depth, number), and the bytes of an object an extent maps.
Pure functions over manifest.SegmentRef and manifest.Extent; no I/O: the
callers load and cache the segment indexes.
"""

import bisect
import collections
import itertools

from cinder_backup_ext.repository import manifest


def append(extents, extent):
    """Append extent, merging it into the last one where they continue
    each other (both zero, or consecutive bytes of the same object)."""
    if extents:
        last = extents[-1]
        if last.offset + last.length == extent.offset:
            if last.ref is None and extent.ref is None:
                extents[-1] = last._replace(length=last.length +
                                            extent.length)
                return
            if (last.ref is not None and extent.ref is not None and
                    last.ref.depth == extent.ref.depth and
                    last.ref.number == extent.ref.number and
                    last.object_offset + last.length ==
                    extent.object_offset):
                extents[-1] = last._replace(length=last.length +
                                            extent.length)
                return
    extents.append(extent)


def clip(extents, start, end, first=0):
    """The parts of sorted, contiguous extents inside [start, end).

    first is where to start looking, when the caller knows (by bisecting
    the extents' offsets) that no earlier extent reaches start.
    """
    clipped = []
    for extent in itertools.islice(extents, first, None):
        extent_end = extent.offset + extent.length
        if extent_end <= start:
            continue
        if extent.offset >= end:
            break
        low = max(start, extent.offset)
        high = min(end, extent_end)
        object_offset = extent.object_offset
        if extent.ref is not None:
            object_offset += low - extent.offset
        clipped.append(manifest.Extent(low, high - low, extent.ref,
                                       object_offset))
    return clipped


def inherit(extents):
    """The parent's extents as seen from its child: one level deeper."""
    return [e if e.ref is None else
            e._replace(ref=e.ref._replace(depth=e.ref.depth + 1))
            for e in extents]


def object_key(ref):
    """What names a stored object within a chain: (depth, number)."""
    return ref.depth, ref.number


def by_object(extents):
    """(groups, zeros): the data extents as (ref, [extents]) per stored
    object, in order of first use, and the zero extents, in order."""
    groups = collections.OrderedDict()
    zeros = []
    for extent in extents:
        if extent.ref is None:
            zeros.append(extent)
            continue
        key = object_key(extent.ref)
        if key not in groups:
            groups[key] = (extent.ref, [])
        groups[key][1].append(extent)
    return list(groups.values()), zeros


def objects(extents):
    """{(depth, number): ref} of the stored objects the extents read."""
    return {object_key(e.ref): e.ref for e in extents if e.ref is not None}


def piece(data, extent):
    """The bytes of an object's plaintext (data) that a data extent maps."""
    return data[extent.object_offset:extent.object_offset + extent.length]


def offsets(extents):
    """The offsets of extents, for within(), or of segment refs, for
    segments()."""
    return [extent.offset for extent in extents]


def within(extents, extent_offsets, start, end):
    """clip() of sorted, contiguous extents to [start, end), looking from
    the extent that holds start: extent_offsets are their offsets
    (offsets()).  Scanning from the first extent for every range would be
    quadratic in the number of extents of a fragmented map."""
    return clip(extents, start, end,
                max(0, bisect.bisect_right(extent_offsets, start) - 1))


def segments(segment_refs, segment_offsets, start, end):
    """(segment, low, high) for each segment of a map that overlaps
    [start, end), in order: [low, high) is the part of the range in it.

    segment_refs are the manifest's (sorted, contiguous, from offset 0),
    segment_offsets their offsets (offsets()); the range must lie within
    the map.
    """
    number = bisect.bisect_right(segment_offsets, start) - 1
    position = start
    while position < end:
        segment = segment_refs[number]
        high = min(end, segment.offset + segment.length)
        yield segment, position, high
        position = high
        number += 1
