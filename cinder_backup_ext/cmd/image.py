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

"""A backup as a random-access image, read on demand.

Owns mapping a read of (offset, length) of the volume onto the newest
backup's segment indexes and their extents, and a bounded LRU cache of
opened objects and indexes, so that a file-level restore through `mount`
reads only what is asked for and holds at most a few objects in memory.
Every object is opened and checked exactly as a restore does it: verified
(digest, AES-GCM), decompressed, and each block it gives the volume
checked against the fingerprint the index recorded.  No threads: callers
serialise reads.
"""

import collections

from cinder_backup_ext.engine import extents as extent_ops
from cinder_backup_ext.engine import restore_job


class LRU(object):
    """At most `capacity` values; the least recently used goes first."""

    def __init__(self, capacity):
        self.capacity = max(1, capacity)
        self._items = collections.OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key, load):
        try:
            value = self._items[key]
        except KeyError:
            self.misses += 1
            value = load()
            self._items[key] = value
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
            return value
        self.hits += 1
        self._items.move_to_end(key)
        return value

    def __len__(self):
        return len(self._items)


class BackupImage(object):
    """Reads of a backup's volume; engine errors (BackupCorrupted) pass
    through so the caller can report them."""

    def __init__(self, repository, locations, newest_manifest,
                 cache_objects=16, cache_indexes=4, fingerprint_secret=None):
        """fingerprint_secret keys the newest manifest's fingerprints
        (repository.fingerprint_secret)."""
        self.repository = repository
        self.fingerprint_secret = fingerprint_secret
        self.locations = locations
        self.manifest = newest_manifest
        self.size = newest_manifest.size
        self._segment_offsets = extent_ops.offsets(
            newest_manifest.segments)
        self.objects = LRU(cache_objects)
        self.indexes = LRU(cache_indexes)

    def _index(self, segment):
        def load():
            index = self.repository.read_index(
                self.locations[0], segment, len(self.manifest.chain),
                self.manifest.block_size)
            work, _zeros = restore_job.plan(self.manifest.backup_id,
                                            self.locations[0], index,
                                            self.fingerprint_secret)
            return (index, extent_ops.offsets(index.extents),
                    {extent_ops.object_key(w.ref): w for w in work})
        return self.indexes.get(segment.number, load)

    def _object(self, index, works, ref):
        """The object's plaintext, its blocks in this index checked."""
        def load():
            return restore_job.read_checked(
                self.repository, self.manifest.backup_id, self.locations,
                works[extent_ops.object_key(ref)], self.fingerprint_secret)
        return self.objects.get((index.number, ref.depth, ref.number), load)

    def read(self, offset, length):
        """Bytes [offset, offset + length) of the volume, clipped to its
        end."""
        end = min(self.size, offset + max(0, length))
        pieces = []
        for segment, low, high in extent_ops.segments(
                self.manifest.segments, self._segment_offsets,
                max(0, offset), end):
            index, starts, works = self._index(segment)
            for extent in extent_ops.within(index.extents, starts, low,
                                            high):
                if extent.ref is None:
                    pieces.append(bytes(extent.length))
                else:
                    data = self._object(index, works, extent.ref)
                    pieces.append(extent_ops.piece(data, extent))
        return b''.join(pieces)
