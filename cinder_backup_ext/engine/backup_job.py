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

"""Full and incremental backup of one volume: the write pipeline.

Owns reading the volume in object-sized chunks, classifying each block as
unchanged (same fingerprint as the parent), zero or new data, storing the new
data of a chunk as one object, and writing segment indexes and, last, the
manifest.  A full backup is an incremental against nothing.  Reading runs in
the caller's thread; fingerprinting, compression and writes run on native
workers, depth chunks at a time, in reused buffers: memory is a few object
sizes per thread and per chunk in flight, whatever the volume size.  A
volume that reads at an offset from any thread (a Ceph RBD image, a regular
file) is read by the workers instead, each its own chunk, so that the reads
overlap: one stream from librbd waits on the cluster for each object in
turn.  What a thin volume never allocated (an RBD image's unallocated
objects, a regular file's holes) is not read but taken as zeros, and counted
as unread_bytes.
"""

import collections

from cinder_backup_ext.engine import extents as extent_ops
from cinder_backup_ext.engine import fingerprint
from cinder_backup_ext.repository import manifest
from cinder_backup_ext.runtime import buffers
from cinder_backup_ext.runtime import concurrency
from cinder_backup_ext.sealing import sealing
from cinder_backup_ext.volume import volume_io

_FP = fingerprint.SIZE
# Segment indexes cover this many objects' worth of the volume each.
OBJECTS_PER_SEGMENT = 1024

Chunk = collections.namedtuple('Chunk', 'number offset data parent')
ChunkResult = collections.namedtuple(
    'ChunkResult', 'number offset length fingerprints extents new_bytes '
                   'stored_bytes zero_bytes unread_bytes')


class _Unread(collections.namedtuple(
        '_Unread', 'volume offset length buffer')):
    """A chunk's data that the worker processing it reads itself, into
    buffer where the volume reads into one."""

    def read(self):
        """(data, bytes of it not read: holes)."""
        return self.volume.read_chunk(self.offset, self.length, self.buffer)


def _unread_zeros(chunk):
    """A chunk the volume said holds no data: processing it stores
    nothing and hashes nothing (fingerprint.scan knows the shared zero
    block), so it costs less than a round trip to a worker."""
    data = chunk.data
    return isinstance(data, bytes) and \
        data is buffers.zero_block(len(data))


# Stands for the chunk's own object until it is sealed.
_PENDING = manifest.ObjectRef(-1, -1, None)


def _classify(prints, zeros, parent_prints, block_count):
    """Per block: 's' same as parent, 'z' zero, 'd' new data."""
    kinds = []
    for i in range(block_count):
        piece = slice(i * _FP, (i + 1) * _FP)
        if parent_prints[piece] == prints[piece]:
            kinds.append('s')
        else:
            kinds.append('z' if zeros[i] else 'd')
    return kinds


def _runs(kinds):
    start = 0
    for i in range(1, len(kinds) + 1):
        if i == len(kinds) or kinds[i] != kinds[start]:
            yield kinds[start], start, i
            start = i


class BackupWriter(object):
    def __init__(self, repository, location, codec_name, block_size,
                 object_size, workers, depth, parent=None,
                 fingerprint_secret=None, parent_fingerprint_secret=None):
        """fingerprint_secret keys the fingerprints this backup stores;
        parent_fingerprint_secret those of the parent, for comparison.  They
        differ only where a chain becomes encrypted."""
        self.repository = repository
        self.location = location
        self.codec_name = codec_name
        self.block_size = block_size
        self.object_size = object_size
        self.workers = workers
        self.depth = depth
        self.parent = parent
        self.fingerprint_secret = fingerprint_secret
        self.parent_fingerprint_secret = (parent_fingerprint_secret
                                          if parent is not None
                                          else fingerprint_secret)
        self.stats = collections.Counter()
        self.scratch = sealing.ScratchPool()

    # --- runs on native workers ------------------------------------------

    def _process(self, chunk):
        data = chunk.data
        unread = 0
        if isinstance(data, _Unread):
            data, unread = data.read()
        length = len(data)
        prints, zeros = fingerprint.scan(data, self.block_size,
                                         self.fingerprint_secret)
        comparable = prints
        if self.parent_fingerprint_secret != self.fingerprint_secret:
            comparable, _zeros = fingerprint.scan(
                data, self.block_size, self.parent_fingerprint_secret)
        parent_prints, parent_extents = chunk.parent
        if comparable == parent_prints:
            return ChunkResult(chunk.number, chunk.offset, length, prints,
                               parent_extents, 0, 0, 0, unread)
        kinds = _classify(comparable, zeros, parent_prints, len(zeros))
        view = memoryview(data)
        planned = []
        pieces = []
        object_length = 0
        zero_bytes = 0
        for kind, first, last in _runs(kinds):
            low = first * self.block_size
            high = min(length, last * self.block_size)
            start, end = chunk.offset + low, chunk.offset + high
            if kind == 's':
                for extent in extent_ops.clip(parent_extents, start, end):
                    extent_ops.append(planned, extent)
            elif kind == 'z':
                zero_bytes += high - low
                extent_ops.append(planned,
                                  manifest.Extent(start, high - low, None, 0))
            else:
                planned.append(manifest.Extent(start, high - low,
                                               _PENDING, object_length))
                pieces.append(view[low:high])
                object_length += high - low
        stored_bytes = 0
        if pieces:
            with self.scratch.borrow() as scratch:
                materials = self.repository.write_data(
                    self.location, chunk.number, self.codec_name, pieces,
                    scratch)
            stored_bytes = materials.stored
            ref = manifest.ObjectRef(0, chunk.number, materials)
            resolved = []
            for extent in planned:
                if extent.ref is _PENDING:
                    extent = extent._replace(ref=ref)
                extent_ops.append(resolved, extent)
            planned = resolved
        return ChunkResult(chunk.number, chunk.offset, length, prints,
                           planned, object_length, stored_bytes, zero_bytes,
                           unread)

    # --- runs in the caller's thread -------------------------------------

    def _chunks(self, volume, on_chunk, allocation):
        # Reading into a ring of reused buffers instead of fresh bytes
        # objects saves the page faults of a new allocation per chunk.  A
        # buffer is reused depth + 1 chunks later, when ordered_map has
        # already waited for the chunk that used it (also when a worker
        # reads the chunk into it).
        ring = [bytearray(self.object_size) for _ in range(self.depth + 1)]
        number = 0
        offset = 0
        skipped = False
        # The allocation gives the size the workers read up to.
        positional = allocation is not None and volume.reads_at
        while True:
            if positional and offset >= allocation.size:
                return
            on_chunk(offset)
            if allocation is not None and offset < allocation.size and \
                    not allocation.holds_data(
                        offset, offset + self.object_size):
                # Never allocated, so zeros: not read.  The shared zero
                # block is recognised by identity, without a byte compared.
                data = buffers.zero_block(
                    min(self.object_size, allocation.size - offset))
                self.stats['unread_bytes'] += len(data)
                skipped = True
            elif positional:
                data = _Unread(volume, offset,
                               min(self.object_size, allocation.size - offset),
                               ring[number % len(ring)])
            else:
                if skipped:
                    volume.seek(offset)
                    skipped = False
                data = volume.read_into(ring[number % len(ring)])
            length = data.length if isinstance(data, _Unread) else len(data)
            if not length:
                return
            end = offset + length
            if self.parent is not None:
                parent = self.parent.lookup(offset, end)
            else:
                parent = (b'', [])
            yield Chunk(number, offset, data, parent)
            number += 1
            offset = end

    def _write_segment(self, number, offset, results):
        index = manifest.SegmentIndex(
            number, offset, sum(r.length for r in results), self.block_size,
            b''.join(r.fingerprints for r in results), [])
        for result in results:
            for extent in result.extents:
                extent_ops.append(index.extents, extent)
        return self.workers.call(self.repository.write_index, self.location,
                                 self.codec_name, index)

    def run(self, volume, on_chunk=lambda offset: None,
            on_progress=lambda done: None, allocation=None):
        """Back the volume up; return (segments, size, data object count).

        volume is a volume_io.VolumeFile (or a file object, which becomes
        one).  on_chunk(offset) is called before each read (cancellation
        checks raise from it); on_progress(bytes done) after each chunk is
        stored.  With an Allocation, chunks it says hold no data are not
        read but taken as zeros; with a FileAllocation, the file's holes
        are not read.
        """
        volume = volume_io.wrap(volume, self.workers)
        self.workers.call(self.repository.prepare, self.location)
        segments = []
        pending = []
        segment_offset = 0
        size = 0
        objects = 0
        for result in concurrency.ordered_map(
                self.workers, self._process,
                self._chunks(volume, on_chunk, allocation), self.depth,
                here=_unread_zeros):
            if pending and result.number // OBJECTS_PER_SEGMENT != \
                    pending[0].number // OBJECTS_PER_SEGMENT:
                segments.append(self._write_segment(
                    len(segments), segment_offset, pending))
                segment_offset += sum(r.length for r in pending)
                pending = []
            pending.append(result)
            size += result.length
            objects += 1 if result.new_bytes else 0
            self.stats['new_bytes'] += result.new_bytes
            self.stats['stored_bytes'] += result.stored_bytes
            self.stats['zero_bytes'] += result.zero_bytes
            if result.unread_bytes:
                self.stats['unread_bytes'] += result.unread_bytes
            on_progress(size)
        if pending:
            segments.append(self._write_segment(len(segments),
                                                segment_offset, pending))
        self.stats['objects'] = objects
        self.stats['index_bytes'] = sum(s.materials.stored
                                        for s in segments)
        return segments, size, objects
