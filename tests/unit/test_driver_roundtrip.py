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

"""Backup then restore through the driver API: the bytes must come back.

Every restore is checked twice, onto a new (sparse, all-zero) target with
volume_is_new=True and onto a target full of unrelated data with
volume_is_new=False, by hashing the target file.
"""

import json
import os
from unittest import mock

from cinder.backup import driver as backup_driver
from cinder.db import api as db

from tests.unit import driver_base as base

OBJ = base.OBJECT_SIZE
BLK = base.BLOCK_SIZE


def mixed_volume(objects, seed, tail=0):
    """A volume with every kind of region a real disk has.

    Object by object it cycles through incompressible data, compressible
    data, an all-zero object and an object that is mostly data with zero
    blocks inside, so full objects, partial objects and zero runs that
    cross object boundaries all occur.
    """
    parts = []
    for i in range(objects):
        kind = i % 4
        if kind == 0:
            parts.append(base.random_bytes(OBJ, seed + i))
        elif kind == 1:
            parts.append(base.compressible_bytes(OBJ, seed + i))
        elif kind == 2:
            parts.append(bytes(OBJ))
        else:
            chunk = bytearray(base.random_bytes(OBJ, seed + i))
            chunk[BLK:3 * BLK] = bytes(2 * BLK)
            chunk[OBJ - BLK:] = bytes(BLK)
            parts.append(bytes(chunk))
    if tail:
        parts.append(base.random_bytes(tail, seed + objects))
    return b''.join(parts)


def overwrite(data, offset, new):
    return data[:offset] + new + data[offset + len(new):]


class FullBackupTest(base.DriverTestCase):

    def test_full_backup_restores_exactly(self):
        data = mixed_volume(16, seed=1)
        backup = self.run_backup(data)
        self.assertRestores(backup, data)

    def test_restore_is_repeatable(self):
        # A restore must not consume or alter what it reads.
        data = mixed_volume(8, seed=2)
        backup = self.run_backup(data)
        before = {rel: base.sha256_file(os.path.join(self.repo, rel))
                  for rel in base.tree_files(self.repo)}
        self.assertRestores(backup, data)
        self.assertRestores(backup, data)
        after = {rel: base.sha256_file(os.path.join(self.repo, rel))
                 for rel in base.tree_files(self.repo)}
        self.assertEqual(before, after)

    def test_size_not_a_multiple_of_the_object_size(self):
        data = mixed_volume(9, seed=3, tail=5 * BLK)
        self.assertNotEqual(0, len(data) % OBJ)
        self.assertRestores(self.run_backup(data), data)

    def test_size_not_a_multiple_of_the_block_size(self):
        # Sector-aligned but not block-aligned, as a device can be.
        data = mixed_volume(5, seed=4, tail=3 * 512)
        self.assertNotEqual(0, len(data) % BLK)
        self.assertRestores(self.run_backup(data), data)

    def test_volume_smaller_than_one_object(self):
        data = base.random_bytes(3 * BLK + 512, seed=5)
        self.assertRestores(self.run_backup(data), data)

    def test_volume_ending_in_zeros(self):
        # A new target is sparse: a trailing zero run must still read back
        # as zeros and the target must keep its size.
        data = base.random_bytes(3 * OBJ, seed=6) + bytes(2 * OBJ + BLK)
        self.assertRestores(self.run_backup(data), data)

    def test_all_zero_volume_stores_almost_nothing(self):
        self.flags(backup_compression_algorithm='none')
        data = bytes(32 * OBJ)
        backup = self.run_backup(data)
        self.assertLessEqual(self.data_bytes(backup), BLK)
        self.assertLess(self.stored_bytes(backup), len(data) // 16)
        self.assertRestores(backup, data)

    def test_volume_file_without_fileno(self):
        # Some volume back ends hand the driver a file-like object that is
        # not an OS file; everything must go through read/write/seek.
        data = mixed_volume(6, seed=7)
        path = self.write_volume(data)
        backup = self.run_backup(path, wrap=base.HookedFile)
        self.assertRestores(backup, data, wrap=base.HookedFile)

    def test_user_container(self):
        data = mixed_volume(4, seed=8)
        backup = self.run_backup(data, container='team-a/nightly')
        self.assertEqual('team-a/nightly', backup.container)
        stored = self.backup_files(backup)
        self.assertNotEqual([], stored)
        for rel in stored:
            self.assertTrue(rel.startswith('team-a/nightly/'), rel)
        self.assertRestores(backup, data)

    def test_configured_default_container(self):
        self.flags(backup_container='shelf')
        data = mixed_volume(4, seed=9)
        backup = self.run_backup(data)
        stored = self.backup_files(backup)
        self.assertNotEqual([], stored)
        for rel in stored:
            self.assertTrue(rel.startswith('shelf/'), rel)
        self.assertRestores(backup, data)

    def test_two_volumes_share_a_container(self):
        first = mixed_volume(5, seed=10)
        second = mixed_volume(7, seed=20, tail=BLK)
        other_volume = self.create_volume()
        b1 = self.run_backup(first, container='shared')
        b2 = self.run_backup(self.write_volume(second, 'second.img'),
                             volume=other_volume, container='shared')
        self.assertRestores(b1, first)
        self.assertRestores(b2, second)


class CompressionTest(base.DriverTestCase):

    def _roundtrip(self, algorithm):
        self.flags(backup_compression_algorithm=algorithm)
        text = base.compressible_bytes(12 * OBJ, seed=30)
        data = text + bytes(2 * OBJ) + base.random_bytes(2 * OBJ, seed=31)
        backup = self.run_backup(data)
        self.assertRestores(backup, data)
        return backup, len(text)

    def _assert_compressed(self, algorithm):
        backup, text_bytes = self._roundtrip(algorithm)
        # The random tail cannot shrink; the text must, roughly by half.
        stored = self.data_bytes(backup)
        self.assertLess(stored, text_bytes * 0.6 + 2 * OBJ,
                        '%s did not compress' % algorithm)

    def test_none(self):
        backup, text_bytes = self._roundtrip('none')
        self.assertGreaterEqual(self.data_bytes(backup), text_bytes + 2 * OBJ)

    def test_zlib(self):
        self._assert_compressed('zlib')

    def test_bz2(self):
        self._assert_compressed('bz2')

    def test_zstd(self):
        self._assert_compressed('zstd')

    def test_cinder_spellings(self):
        # Cinder accepts these spellings; an operator's existing cinder.conf
        # may use any of them.
        for algorithm in base.COMPRESSION_ALIASES:
            self._roundtrip(algorithm)

    def test_restore_after_algorithm_changed(self):
        # What was stored says how to read it back, not today's option.
        self.flags(backup_compression_algorithm='bz2')
        data = mixed_volume(6, seed=32)
        backup = self.run_backup(data)
        self.flags(backup_compression_algorithm='zstd')
        self.assertRestores(backup, data)

    def test_chain_across_algorithms(self):
        data = mixed_volume(8, seed=33)
        self.flags(backup_compression_algorithm='zlib')
        full = self.run_backup(data)
        changed = overwrite(data, 3 * OBJ + BLK,
                            base.compressible_bytes(3 * BLK, seed=34))
        self.flags(backup_compression_algorithm='none')
        incr = self.run_backup(changed, parent=full)
        self.flags(backup_compression_algorithm='bz2')
        self.assertRestores(full, data)
        self.assertRestores(incr, changed)


class IncrementalTest(base.DriverTestCase):

    def _chain_states(self):
        """Five volume states, each a set of edits on the one before.

        The edits include data turning into zeros and zeros turning into
        data, inside an object and across object boundaries, because those
        are the cases a restore that skips zeros gets wrong.
        """
        size_objects = 12
        v0 = mixed_volume(size_objects, seed=40, tail=2 * BLK)
        v1 = overwrite(v0, 0, base.random_bytes(BLK, seed=41))
        # data -> zero: the whole of object 0 after its first block, and a
        # run crossing from object 4 into object 5.
        v1 = overwrite(v1, BLK, bytes(OBJ - BLK))
        v1 = overwrite(v1, 5 * OBJ - 2 * BLK, bytes(4 * BLK))
        # zero -> data: object 2 was all zeros in the full backup.
        v2 = overwrite(v1, 2 * OBJ + 3 * BLK,
                       base.random_bytes(5 * BLK, seed=42))
        # zero -> data again where v1 zeroed data, and data -> zero on the
        # trailing partial object.
        v3 = overwrite(v2, 5 * OBJ - 2 * BLK,
                       base.compressible_bytes(4 * BLK, seed=43))
        v3 = overwrite(v3, size_objects * OBJ, bytes(2 * BLK))
        # One byte changed, one zero block inside data, and the tail back.
        v4 = overwrite(v3, 7 * OBJ + 1234, b'\xff')
        v4 = overwrite(v4, 9 * OBJ + 5 * BLK, bytes(BLK))
        v4 = overwrite(v4, size_objects * OBJ,
                       base.random_bytes(2 * BLK, seed=44))
        states = [v0, v1, v2, v3, v4]
        for a, b in zip(states, states[1:]):
            self.assertNotEqual(a, b)
            self.assertEqual(len(a), len(b))
        return states

    def test_chain_of_five_restores_every_member(self):
        states = self._chain_states()
        chain = []
        for state in states:
            chain.append(self.run_backup(
                state, parent=chain[-1] if chain else None))
        for backup, state in zip(chain, states):
            self.assertRestores(backup, state)

    def test_chain_members_restore_in_any_order(self):
        states = self._chain_states()
        chain = []
        for state in states:
            chain.append(self.run_backup(
                state, parent=chain[-1] if chain else None))
        for i in (4, 0, 2, 3, 1):
            self.assertRestores(chain[i], states[i])

    def test_one_changed_block_stores_much_less_than_the_full(self):
        self.flags(backup_compression_algorithm='none')
        data = base.random_bytes(32 * OBJ, seed=50)
        full = self.run_backup(data)
        changed = overwrite(data, 17 * OBJ + 3 * BLK,
                            base.random_bytes(BLK, seed=51))
        incr = self.run_backup(changed, parent=full)
        self.assertLess(self.data_bytes(incr) * 8, self.data_bytes(full))
        self.assertLess(self.stored_bytes(incr) * 4, self.stored_bytes(full))
        self.assertRestores(incr, changed)
        self.assertRestores(full, data)

    def test_unchanged_volume_stores_no_data(self):
        self.flags(backup_compression_algorithm='none')
        data = mixed_volume(8, seed=52)
        full = self.run_backup(data)
        incr = self.run_backup(data, parent=full)
        self.assertLess(self.data_bytes(incr), BLK)
        self.assertRestores(incr, data)

    def test_chain_across_object_sizes(self):
        # An upgrade may change backup_object_size under existing chains:
        # the blocks are compared whatever size the chunks were read in.
        self.flags(backup_compression_algorithm='none')
        states = self._chain_states()[:3]
        chain = []
        for state, size in zip(states, (OBJ, 2 * OBJ, OBJ // 2)):
            self.flags(backup_object_size=size)
            chain.append(self.run_backup(
                state, parent=chain[-1] if chain else None))
        self.assertLess(self.data_bytes(chain[1]) * 4,
                        self.data_bytes(chain[0]))
        self.assertLess(self.data_bytes(chain[2]) * 4,
                        self.data_bytes(chain[0]))
        for backup, state in zip(chain, states):
            self.assertRestores(backup, state)

    def test_incremental_that_zeroes_everything(self):
        data = mixed_volume(8, seed=53)
        full = self.run_backup(data)
        zeros = bytes(len(data))
        incr = self.run_backup(zeros, parent=full)
        self.assertRestores(incr, zeros)
        self.assertRestores(full, data)

    def test_incremental_of_a_zero_volume_filled_with_data(self):
        zeros = bytes(8 * OBJ)
        full = self.run_backup(zeros)
        data = mixed_volume(8, seed=54)
        incr = self.run_backup(data, parent=full)
        self.assertRestores(incr, data)
        self.assertRestores(full, zeros)

    def test_branches_from_one_parent(self):
        # Two incrementals of the same parent must not see each other.
        base_data = mixed_volume(8, seed=55)
        full = self.run_backup(base_data)
        left = overwrite(base_data, OBJ, base.random_bytes(BLK, seed=56))
        right = overwrite(base_data, 6 * OBJ, bytes(OBJ))
        b_left = self.run_backup(left, parent=full)
        b_right = self.run_backup(right, parent=full)
        self.assertRestores(b_left, left)
        self.assertRestores(b_right, right)


class VolumeMetadataTest(base.DriverTestCase):

    def _source_volume(self):
        volume = self.create_volume(display_name='source-name')
        db.volume_metadata_update(self.ctxt, volume.id,
                                  {'purpose': 'nightly-db'}, False)
        return volume

    def test_metadata_saved_and_put_back(self):
        volume = self._source_volume()
        blob = backup_driver.BackupMetadataAPI(self.ctxt).get(volume.id)
        self.assertIsInstance(blob, str)
        data = mixed_volume(4, seed=60)
        cls = self.driver_class()
        with mock.patch.object(cls, 'get_metadata',
                               return_value=blob) as get_metadata:
            backup = self.run_backup(data, volume=volume)
        get_metadata.assert_called_once_with(volume.id)
        with mock.patch.object(cls, 'put_metadata') as put_metadata:
            self.assertRestores(backup, data)
        self.assertTrue(put_metadata.called)
        for call in put_metadata.call_args_list:
            volume_id, saved = call[0]
            self.assertEqual(self.target_volume.id, volume_id)
            self.assertEqual(json.loads(blob), json.loads(saved))

    def test_metadata_reaches_the_target_volume(self):
        volume = self._source_volume()
        data = mixed_volume(4, seed=61)
        backup = self.run_backup(data, volume=volume)
        self.assertRestores(backup, data)
        meta = db.volume_metadata_get(self.ctxt, self.target_volume.id)
        self.assertEqual('nightly-db', meta.get('purpose'))

    def test_incremental_carries_its_own_metadata(self):
        volume = self._source_volume()
        data = mixed_volume(4, seed=62)
        full = self.run_backup(data, volume=volume)
        db.volume_metadata_update(self.ctxt, volume.id,
                                  {'purpose': 'after-change'}, False)
        changed = overwrite(data, 0, base.random_bytes(BLK, seed=63))
        incr = self.run_backup(changed, parent=full, volume=volume)
        self.assertRestores(incr, changed)
        meta = db.volume_metadata_get(self.ctxt, self.target_volume.id)
        self.assertEqual('after-change', meta.get('purpose'))

    def test_no_metadata_when_not_asked(self):
        volume = self._source_volume()
        data = mixed_volume(4, seed=64)
        cls = self.driver_class()
        with mock.patch.object(cls, 'get_metadata') as get_metadata:
            backup = self.run_backup(data, volume=volume,
                                     backup_metadata=False)
        self.assertFalse(get_metadata.called)
        with mock.patch.object(cls, 'put_metadata') as put_metadata:
            self.assertRestores(backup, data)
        self.assertFalse(put_metadata.called)
