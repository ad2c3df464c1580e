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

"""Helpers for engine tests that need no Cinder database."""

import io
import random

from cinder_backup_ext.engine import backup_job
from cinder_backup_ext.engine import parent
from cinder_backup_ext.engine import restore_job
from cinder_backup_ext.repository import manifest
from cinder_backup_ext.repository import repository
from cinder_backup_ext.runtime import concurrency
from cinder_backup_ext.storage import memory

BLOCK = 4096
OBJECT = 16 * BLOCK


class Engine(object):
    """Drives BackupWriter and RestoreReader over one store."""

    def __init__(self, store=None, codec='zstd', block=BLOCK,
                 object_size=OBJECT, threads=2, depth=3):
        self.store = store or memory.MemoryStore()
        self.repo = repository.Repository(self.store)
        self.codec = codec
        self.block = block
        self.object_size = object_size
        self.threads = threads
        self.depth = depth
        self.manifests = {}
        self.locations = {}

    def backup(self, backup_id, data, parent_id=None):
        location = repository.BackupLocation('backups', backup_id,
                                             object_size=self.object_size)
        view = None
        chain = [backup_id]
        if parent_id:
            parent_manifest = self.manifests[parent_id]
            parent_location = self.locations[parent_id]
            chain += parent_manifest.chain
            view = parent.ParentView(
                parent_manifest,
                lambda s: self.repo.read_index(parent_location, s,
                                               len(parent_manifest.chain)))
        with concurrency.NativeWorkers(self.threads) as workers:
            writer = backup_job.BackupWriter(
                self.repo, location, self.codec, self.block,
                self.object_size, workers, self.depth, view)
            segments, size, _count = writer.run(io.BytesIO(bytes(data)))
        result = manifest.Manifest(backup_id, 'volume', chain, None, size,
                                   self.block, self.object_size, segments,
                                   None, dict(writer.stats))
        self.repo.write_manifest(location, result)
        self.manifests[backup_id] = self.repo.read_manifest(location)
        self.locations[backup_id] = location
        return writer.stats

    def restore(self, backup_id, size, existing=None):
        newest = self.manifests[backup_id]
        locations = [self.locations[i] for i in newest.chain]
        target = io.BytesIO(bytes(size) if existing is None
                            else bytes(existing))
        with concurrency.NativeWorkers(self.threads) as workers:
            restore_job.RestoreReader(self.repo, locations, newest, workers,
                                      self.depth).run(target,
                                                      existing is None)
        return target.getvalue()


def mixed_volume(size, seed=0):
    """Random, zero and repetitive thirds, so every code path is used."""
    rng = random.Random(seed)
    third = size // 3
    text = (b'the quick brown fox %d ' * 1000)[:third]
    data = bytearray(rng.randbytes(third) + bytes(third) + text)
    data += rng.randbytes(size - len(data))
    return data
