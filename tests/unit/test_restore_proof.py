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

"""Every restored block is proven against its fingerprint.

The stored objects stay intact here, digests and tags included: what goes
wrong is what a bug in the writer's extent bookkeeping or in a decoder
would do.  The damaged segment index is written through the library
itself, so that it is well formed, sealed and listed in a valid manifest,
and only its mapping is wrong.
"""

import os

from cinder_backup_ext import exception
from cinder_backup_ext.repository import manifest
from cinder_backup_ext.repository import repository
from cinder_backup_ext.runtime import concurrency
from cinder_backup_ext.sealing import sealing
from cinder_backup_ext.storage import posix
from tests.unit import driver_base as base

OBJ = base.OBJECT_SIZE
BLK = base.BLOCK_SIZE


class RestoreProofTest(base.DriverTestCase):

    def setUp(self):
        super().setUp()
        # Two objects of data, one of zeros, one more of data.
        self.data = (base.random_bytes(2 * OBJ, seed=600) + bytes(OBJ) +
                     base.random_bytes(OBJ, seed=601))
        self.backup = self.run_backup(self.data)
        self.location = repository.BackupLocation(self.backup.container,
                                                  self.backup.id)

    def _rewrite_index(self, change):
        """Apply change(list of extents) -> extents to segment 0 and store
        it as the writer would have."""
        def rewrite():
            repo = repository.Repository(posix.PosixStore(self.repo))
            stored = repo.read_manifest(self.location)
            segment = stored.segments[0]
            index = repo.read_index(self.location, segment, 1)
            index.extents = change(list(index.extents))
            stored.segments[0] = repo.write_index(self.location, 'zstd',
                                                  index)
            repo.write_manifest(self.location, stored)
        concurrency.run_native(rewrite)

    def _restore_fails(self, volume_is_new=True):
        target = (self.new_target(len(self.data)) if volume_is_new
                  else self.existing_target(len(self.data)))
        error = self.assertRaises(exception.BackupCorrupted,
                                  self.run_restore, self.backup, target,
                                  volume_is_new)
        with open(target, 'rb') as f:
            return str(error), f.read()

    def test_intact_backup_restores(self):
        self.assertRestores(self.backup, self.data)

    def test_swapped_objects_are_caught_before_they_are_written(self):
        def swap(extents):
            first, second = extents[0], extents[1]
            self.assertEqual((OBJ, OBJ), (first.length, second.length))
            return [first._replace(ref=second.ref),
                    second._replace(ref=first.ref)] + extents[2:]
        self._rewrite_index(swap)
        message, restored = self._restore_fails()
        self.assertIn(self.backup.id, message)
        self.assertIn('volume offset 0 ', message)
        self.assertIn('data/00000/00000001', message)
        # The wrong object never reached the volume.
        self.assertEqual(bytes(OBJ), restored[:OBJ])

    def test_a_shifted_slice_is_caught(self):
        def shift(extents):
            first = extents[0]
            return [first._replace(length=BLK),
                    first._replace(offset=BLK, length=OBJ - BLK,
                                   object_offset=0)] + extents[1:]
        self._rewrite_index(shift)
        message, _restored = self._restore_fails(volume_is_new=False)
        self.assertIn('volume offset %d ' % BLK, message)

    def test_data_mapped_to_zeros_is_caught(self):
        # On a new volume zeros are not even written: without the check
        # this restore would "succeed" with a hole where data was.
        def zero(extents):
            return [extents[0]._replace(ref=None, object_offset=0)] + \
                extents[1:]
        self._rewrite_index(zero)
        message, _restored = self._restore_fails()
        self.assertIn('mapped to zeros', message)
        self.assertIn('index/00000000', message)

    def test_a_decoder_that_returns_wrong_bytes_is_caught(self):
        real = sealing.open_object

        def flipping(stored, materials, cipher, name, *args):
            plain = real(stored, materials, cipher, name, *args)
            if not name.startswith('data/'):
                return plain
            damaged = bytearray(plain)
            damaged[3 * BLK + 7] ^= 1
            return damaged
        self.patch('cinder_backup_ext.sealing.sealing.open_object', flipping)
        message, restored = self._restore_fails()
        self.assertIn('volume offset %d ' % (3 * BLK), message)
        self.assertEqual(bytes(OBJ), restored[:OBJ])

    def test_an_extent_off_the_block_grid_is_refused(self):
        def misalign(extents):
            first = extents[0]
            return [first._replace(length=100),
                    first._replace(offset=100, length=OBJ - 100,
                                   object_offset=100)] + extents[1:]
        self._rewrite_index(misalign)
        message, _restored = self._restore_fails()
        self.assertIn('does not cover whole blocks', message)

    def test_an_index_with_another_block_size_than_its_manifest(self):
        def halve():
            repo = repository.Repository(posix.PosixStore(self.repo))
            stored = repo.read_manifest(self.location)
            stored.block_size = BLK // 2
            repo.write_manifest(self.location, stored)
        concurrency.run_native(halve)
        message, _restored = self._restore_fails()
        self.assertIn('index has blocks of %d bytes, the manifest %d'
                      % (BLK, BLK // 2), message)

    def test_fingerprints_of_another_volume_are_caught(self):
        other = base.random_bytes(len(self.data), seed=602)
        stranger = self.run_backup(self.write_volume(other, 'other.img'),
                                   volume=self.create_volume())

        def graft():
            repo = repository.Repository(posix.PosixStore(self.repo))
            theirs = repo.read_index(
                repository.BackupLocation(stranger.container, stranger.id),
                repo.read_manifest(repository.BackupLocation(
                    stranger.container, stranger.id)).segments[0], 1)
            stored = repo.read_manifest(self.location)
            ours = repo.read_index(self.location, stored.segments[0], 1)
            ours.fingerprints = theirs.fingerprints
            stored.segments[0] = repo.write_index(self.location, 'zstd',
                                                  ours)
            repo.write_manifest(self.location, stored)
        concurrency.run_native(graft)
        message, _restored = self._restore_fails()
        self.assertIn('at volume offset', message)


class BlockCheckTest(base.test.TestCase):
    """The check itself, on hand-made indexes."""

    def _index(self, data, block=BLK):
        from cinder_backup_ext.engine import fingerprint
        prints, _zeros = fingerprint.scan(data, block)
        return manifest.SegmentIndex(0, 0, len(data), block, prints, [])

    def test_a_short_last_block(self):
        from cinder_backup_ext.engine import block_check
        data = os.urandom(3 * BLK + 100)
        index = self._index(data)
        extent = manifest.Extent(0, len(data), None, 0)
        block_check.check_data(index, extent, data)
        damaged = data[:-1] + bytes([data[-1] ^ 1])
        error = self.assertRaises(block_check.Mismatch,
                                  block_check.check_data, index, extent,
                                  damaged)
        self.assertEqual(3 * BLK, error.offset)

    def test_zeros_with_a_short_last_block(self):
        from cinder_backup_ext.engine import block_check
        index = self._index(bytes(2 * BLK + 10))
        block_check.check_zeros(index, manifest.Extent(0, 2 * BLK + 10,
                                                       None, 0))
        block_check.check_zeros(index, manifest.Extent(BLK, BLK + 10,
                                                       None, 0))

    def test_keyed_fingerprints_need_their_key(self):
        from cinder_backup_ext.engine import block_check
        from cinder_backup_ext.engine import fingerprint
        key = bytes(range(32))
        data = os.urandom(2 * BLK)
        prints, _zeros = fingerprint.scan(data, BLK, key)
        index = manifest.SegmentIndex(0, 0, len(data), BLK, prints, [])
        extent = manifest.Extent(0, len(data), None, 0)
        block_check.check_data(index, extent, data, key)
        self.assertRaises(block_check.Mismatch, block_check.check_data,
                          index, extent, data)
