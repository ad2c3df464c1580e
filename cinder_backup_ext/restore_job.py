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

"""Restore of a backup, full or incremental, in one pass.

Owns the read pipeline: the newest backup's segment indexes describe the
whole volume, so each stored object is fetched and verified once (on native
workers, depth at a time) and each byte of the volume is written at most
once.  Zero extents are skipped on a new volume, which reads as zeros, and
written on an existing one so the result is exact.
"""

import collections
import os
import stat

from cinder_backup_ext import concurrency
from cinder_backup_ext import fingerprint
from cinder_backup_ext import sealing

# Zeros are written in pieces of this size onto existing volumes.
_ZERO_WRITE = 4 << 20

ObjectWork = collections.namedtuple('ObjectWork', 'ref extents')


def _group_by_object(extents):
    """Data extents grouped per stored object, in order of first use, and
    the zero extents."""
    groups = collections.OrderedDict()
    zeros = []
    for extent in extents:
        if extent.ref is None:
            zeros.append(extent)
            continue
        key = (extent.ref.depth, extent.ref.number)
        if key not in groups:
            groups[key] = ObjectWork(extent.ref, [])
        groups[key].extents.append(extent)
    return list(groups.values()), zeros


class RestoreReader(object):
    def __init__(self, repository, locations, newest_manifest, workers,
                 depth):
        """locations[d] is the BackupLocation of chain member d."""
        self.repository = repository
        self.locations = locations
        self.manifest = newest_manifest
        self.workers = workers
        self.depth = depth
        self.scratch = sealing.ScratchPool()

    def _fetch(self, work):
        """(work, plaintext, the scratch it lives in): run() writes the
        plaintext out, then gives the scratch back."""
        location = self.locations[work.ref.depth]
        scratch = self.scratch.take()
        try:
            data = self.repository.read_data(location, work.ref.number,
                                             work.ref.materials, scratch)
        except BaseException:
            self.scratch.give_back(scratch)
            raise
        return work, data, scratch

    @staticmethod
    def _write(volume_file, offset, data):
        volume_file.seek(offset)
        volume_file.write(data)

    def _write_zeros(self, volume_file, extent):
        position = extent.offset
        end = extent.offset + extent.length
        while position < end:
            piece = min(_ZERO_WRITE, end - position)
            self._write(volume_file, position, fingerprint.zero_block(piece))
            position += piece

    def run(self, volume_file, volume_is_new, on_step=lambda done: None):
        """Write the backup's data into volume_file.

        on_step(bytes done) runs between objects; cancellation raises
        from it.
        """
        newest = self.locations[0]
        chain_length = len(self.manifest.chain)
        for segment in self.manifest.segments:
            on_step(segment.offset)
            index = self.workers.call(self.repository.read_index, newest,
                                      segment, chain_length)
            work, zeros = _group_by_object(index.extents)
            if not volume_is_new:
                for extent in zeros:
                    self._write_zeros(volume_file, extent)
            for item, data, scratch in concurrency.ordered_map(
                    self.workers, self._fetch, work, self.depth):
                view = memoryview(data)
                for extent in item.extents:
                    self._write(volume_file, extent.offset,
                                view[extent.object_offset:
                                     extent.object_offset + extent.length])
                self.scratch.give_back(scratch)
                on_step(item.extents[-1].offset + item.extents[-1].length)
        on_step(self.manifest.size)
        finish_volume(volume_file, self.manifest.size, self.workers)


def _extend_and_sync(fileno, size):
    # A regular file opened with 'wb' was truncated; zeros at its end were
    # skipped, so give it back its full length (sparse).  Block devices have
    # their size already.
    status = os.fstat(fileno)
    if stat.S_ISREG(status.st_mode) and status.st_size < size:
        os.ftruncate(fileno, size)
    os.fsync(fileno)


def finish_volume(volume_file, size, workers):
    """Flush the restored volume to stable storage before it is reported
    available."""
    volume_file.flush()
    try:
        fileno = volume_file.fileno()
    except (AttributeError, OSError, IOError, ValueError):
        return
    workers.call(_extend_and_sync, fileno, size)
