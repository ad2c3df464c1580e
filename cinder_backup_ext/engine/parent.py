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

"""The parent backup as an incremental backup sees it.

Owns sequential access to the parent's segment indexes: for a range of the
volume, the parent's block fingerprints and its extents (one level deeper in
the chain).  Keeps at most two segment indexes in memory, so the memory of
an incremental does not grow with the volume.
"""

from cinder_backup_ext.engine import extents as extent_ops
from cinder_backup_ext.repository import manifest

_FP = manifest.FINGERPRINT_SIZE


class ParentView(object):
    def __init__(self, parent_manifest, load_index):
        """load_index(segment_ref) returns the decoded SegmentIndex."""
        self.manifest = parent_manifest
        self._load_index = load_index
        self._starts = extent_ops.offsets(parent_manifest.segments)
        self._cache = {}

    @property
    def block_size(self):
        return self.manifest.block_size

    def _index(self, segment):
        """The segment index and the offsets of its extents."""
        number = segment.number
        cached = self._cache.get(number)
        if cached is None:
            index = self._load_index(segment)
            # Access is sequential: the previous segment can go.
            for old in [n for n in self._cache if n < number - 1]:
                del self._cache[old]
            cached = self._cache[number] = (
                index, extent_ops.offsets(index.extents))
        return cached

    def lookup(self, start, end):
        """(fingerprints, extents) of the parent within [start, end).

        Both stop at the parent's end when the volume has grown since;
        the caller treats the missing blocks as changed.
        """
        end = min(end, self.manifest.size)
        if start >= end:
            return b'', []
        block_size = self.block_size
        prints = []
        found = []
        for segment, low, high in extent_ops.segments(
                self.manifest.segments, self._starts, start, end):
            index, offsets = self._index(segment)
            first = (low - index.offset) // block_size
            last = -(-(high - index.offset) // block_size)
            prints.append(index.fingerprints[first * _FP:last * _FP])
            found.extend(extent_ops.within(index.extents, offsets, low, high))
        return b''.join(prints), extent_ops.inherit(found)
