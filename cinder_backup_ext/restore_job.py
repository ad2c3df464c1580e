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
zeroed on an existing one so the result is exact (volume_io: an RBD image
zeroes them itself).
"""

import collections

from cinder_backup_ext import concurrency
from cinder_backup_ext import sealing
from cinder_backup_ext import volume_io

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

    def run(self, volume, volume_is_new, on_step=lambda done: None):
        """Write the backup's data into the volume (a volume_io.VolumeFile,
        or a file object, which becomes one).

        on_step(bytes done) runs between objects; cancellation raises
        from it.
        """
        volume = volume_io.wrap(volume, self.workers)
        newest = self.locations[0]
        chain_length = len(self.manifest.chain)
        for segment in self.manifest.segments:
            on_step(segment.offset)
            index = self.workers.call(self.repository.read_index, newest,
                                      segment, chain_length)
            work, zeros = _group_by_object(index.extents)
            if not volume_is_new:
                for extent in zeros:
                    volume.zero_range(extent.offset, extent.length)
            for item, data, scratch in concurrency.ordered_map(
                    self.workers, self._fetch, work, self.depth):
                view = memoryview(data)
                for extent in item.extents:
                    volume.write_at(extent.offset,
                                    view[extent.object_offset:
                                         extent.object_offset +
                                         extent.length])
                self.scratch.give_back(scratch)
                on_step(item.extents[-1].offset + item.extents[-1].length)
        on_step(self.manifest.size)
        volume.finish(self.manifest.size)
