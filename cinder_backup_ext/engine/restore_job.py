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
once.  Where the volume is a file or block device, each object is written
by the worker that decoded it, so writes overlap the decoding of the next
objects.  Zero extents are skipped on a new volume, which reads as zeros, and
zeroed on an existing one so the result is exact (volume_io: an RBD image
zeroes them itself).  Every block is checked against the fingerprint its
index records before it is written (block_check).
"""

import collections
import functools

from cinder_backup_ext.engine import block_check
from cinder_backup_ext.engine import extents as extent_ops
from cinder_backup_ext.repository import layout
from cinder_backup_ext.repository import repository
from cinder_backup_ext.runtime import concurrency
from cinder_backup_ext.sealing import sealing
from cinder_backup_ext.volume import volume_io

ObjectWork = collections.namedtuple('ObjectWork', 'ref extents index')


def _mismatch(backup_id, location, name, error):
    return repository.damaged(backup_id, location.directory, name,
                              str(error))


def plan(backup_id, location, index, key):
    """(work, zeros) of an index: its data extents grouped per stored
    object (ObjectWork), in order of first use, and its zero extents, once
    these have passed block_check.check_zeros; a mismatch fails as
    BackupCorrupted of the index (location is the backup's that owns it)."""
    groups, zeros = extent_ops.by_object(index.extents)
    for extent in zeros:
        try:
            block_check.check_zeros(index, extent, key)
        except block_check.Mismatch as error:
            raise _mismatch(backup_id, location,
                            layout.index_object_name(index.number), error)
    return [ObjectWork(ref, extents, index) for ref, extents in groups], zeros


def read_checked(repo, backup_id, locations, work, key, scratch=None):
    """The plaintext of work's object, each of its extents checked against
    the fingerprints of work.index (of backup backup_id)."""
    location = locations[work.ref.depth]
    data = repo.read_data(location, work.ref.number, work.ref.materials,
                          scratch)
    view = memoryview(data)
    for extent in work.extents:
        try:
            block_check.check_data(work.index, extent,
                                   extent_ops.piece(view, extent), key)
        except block_check.Mismatch as error:
            raise _mismatch(backup_id, location,
                            layout.data_object_name(work.ref.number), error)
    return data


def _write_extents(write, work, data):
    view = memoryview(data)
    for extent in work.extents:
        write(extent.offset, extent_ops.piece(view, extent))


class RestoreReader(object):
    def __init__(self, repository, locations, newest_manifest, workers,
                 depth, fingerprint_secret=None):
        """locations[d] is the BackupLocation of chain member d;
        fingerprint_secret keys the fingerprints of the newest manifest's
        indexes (repository.fingerprint_secret)."""
        self.repository = repository
        self.locations = locations
        self.manifest = newest_manifest
        self.workers = workers
        self.depth = depth
        self.fingerprint_secret = fingerprint_secret
        self.scratch = sealing.ScratchPool()

    def _fetch(self, work):
        """(plaintext, the scratch it lives in) of work's object, checked:
        _write_out writes it, then gives the scratch back."""
        scratch = self.scratch.take()
        try:
            data = read_checked(self.repository, self.manifest.backup_id,
                                self.locations, work, self.fingerprint_secret,
                                scratch)
        except BaseException:
            self.scratch.give_back(scratch)
            raise
        return data, scratch

    def _write_out(self, write, work, fetched):
        data, scratch = fetched
        try:
            _write_extents(write, work, data)
        finally:
            self.scratch.give_back(scratch)

    def _restore_on_worker(self, write, work):
        """Fetch, check and write one object, all on the native worker
        that runs it."""
        self._write_out(write, work, self._fetch(work))
        return work

    def _write_here(self, volume, work):
        """Fetch on the workers and write on this thread, object by
        object, in order; yield each object once it is written."""
        fetched = concurrency.ordered_map(self.workers, self._fetch, work,
                                          self.depth)
        for item, result in zip(work, fetched):
            self._write_out(volume.write_at, item, result)
            yield item

    def run(self, volume, volume_is_new, on_step=lambda done: None):
        """Write the backup's data into the volume (a volume_io.VolumeFile,
        or a file object, which becomes one).

        on_step(bytes done) runs between objects; cancellation raises
        from it.
        """
        volume = volume_io.wrap(volume, self.workers)
        write = volume.worker_writer()
        newest = self.locations[0]
        chain_length = len(self.manifest.chain)
        for segment in self.manifest.segments:
            on_step(segment.offset)
            index = self.workers.call(self.repository.read_index, newest,
                                      segment, chain_length,
                                      self.manifest.block_size)
            work, zeros = plan(self.manifest.backup_id, newest, index,
                               self.fingerprint_secret)
            if not volume_is_new:
                for extent in zeros:
                    volume.zero_range(extent.offset, extent.length)
            if write is not None:
                # A step holds its buffers only while it runs, so twice
                # the depth in flight costs no memory, and keeps every
                # worker busy while the oldest object is still decoding.
                written = concurrency.ordered_map(
                    self.workers,
                    functools.partial(self._restore_on_worker, write),
                    work, 2 * self.depth)
            else:
                written = self._write_here(volume, work)
            for item in written:
                on_step(item.extents[-1].offset + item.extents[-1].length)
        on_step(self.manifest.size)
        volume.finish(self.manifest.size)
