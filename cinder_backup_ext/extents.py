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

"""Extent lists: clipping, merging and inheriting ranges of a volume map.

Pure functions over manifest.Extent; no I/O.
"""

import itertools

from cinder_backup_ext import manifest


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
