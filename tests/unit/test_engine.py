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

"""The backup and restore pipelines over an in-memory store."""

import random

import testtools

from cinder_backup_ext.engine import backup_job
from cinder_backup_ext import exception
from cinder_backup_ext.repository import layout
from tests.unit import engine_helpers as helpers


class RoundTripTest(testtools.TestCase):

    def test_full_backup_restores_to_new_and_existing_volume(self):
        engine = helpers.Engine()
        volume = helpers.mixed_volume(1000003)
        engine.backup('b1', volume)
        self.assertEqual(bytes(volume), engine.restore('b1', len(volume)))
        garbage = random.Random(9).randbytes(len(volume))
        self.assertEqual(bytes(volume),
                         engine.restore('b1', len(volume), garbage))

    def test_each_codec_round_trips(self):
        volume = helpers.mixed_volume(300000, seed=3)
        for codec in ('none', 'zlib', 'bz2', 'zstd'):
            engine = helpers.Engine(codec=codec)
            engine.backup('b1', volume)
            self.assertEqual(bytes(volume),
                             engine.restore('b1', len(volume)), codec)

    def test_chain_of_five_with_data_to_zero_and_zero_to_data(self):
        engine = helpers.Engine()
        rng = random.Random(5)
        size = 20 * helpers.OBJECT + 1234
        volume = helpers.mixed_volume(size, seed=5)
        snapshots = {}
        parent = None
        for number in range(5):
            backup_id = 'b%d' % number
            if number:
                # data -> zero, zero -> data, and a scattered change
                start = rng.randrange(0, size - 50000)
                volume[start:start + 50000] = bytes(50000)
                start = rng.randrange(0, size - 30000)
                volume[start:start + 30000] = rng.randbytes(30000)
                position = rng.randrange(0, size - 10)
                volume[position:position + 10] = b'0123456789'
            engine.backup(backup_id, volume, parent)
            snapshots[backup_id] = bytes(volume)
            parent = backup_id
        for backup_id, expected in snapshots.items():
            self.assertEqual(expected, engine.restore(backup_id, size),
                             backup_id)
            garbage = rng.randbytes(size)
            self.assertEqual(expected,
                             engine.restore(backup_id, size, garbage),
                             backup_id)

    def test_unchanged_incremental_stores_no_data(self):
        engine = helpers.Engine()
        volume = helpers.mixed_volume(500000)
        engine.backup('b1', volume)
        stats = engine.backup('b2', volume, 'b1')
        self.assertEqual(0, stats['new_bytes'])
        self.assertEqual(0, stats['objects'])
        names = engine.store.list_objects(engine.locations['b2'].directory,
                                          layout.DATA_PREFIX)
        self.assertEqual([], names)

    def test_one_changed_block_stores_one_block(self):
        engine = helpers.Engine()
        volume = helpers.mixed_volume(40 * helpers.OBJECT)
        engine.backup('b1', volume)
        volume[helpers.BLOCK * 7 + 3] ^= 0xff
        stats = engine.backup('b2', volume, 'b1')
        self.assertEqual(helpers.BLOCK, stats['new_bytes'])
        self.assertEqual(bytes(volume), engine.restore('b2', len(volume)))

    def test_zero_volume_stores_no_data(self):
        engine = helpers.Engine()
        stats = engine.backup('b1', bytes(10 * helpers.OBJECT))
        self.assertEqual(0, stats['stored_bytes'])
        self.assertEqual(10 * helpers.OBJECT, stats['zero_bytes'])
        restored = engine.restore('b1', 10 * helpers.OBJECT, b'\x01' *
                                  (10 * helpers.OBJECT))
        self.assertEqual(bytes(10 * helpers.OBJECT), restored)

    def test_grown_volume_backs_up_the_new_tail(self):
        engine = helpers.Engine()
        volume = helpers.mixed_volume(5 * helpers.OBJECT)
        engine.backup('b1', volume)
        volume += random.Random(2).randbytes(3 * helpers.OBJECT + 17)
        engine.backup('b2', volume, 'b1')
        self.assertEqual(bytes(volume), engine.restore('b2', len(volume)))

    def test_several_segments(self):
        self.patch(backup_job, 'OBJECTS_PER_SEGMENT', 3)
        engine = helpers.Engine()
        volume = helpers.mixed_volume(10 * helpers.OBJECT + 5)
        engine.backup('b1', volume)
        self.assertEqual(4, len(engine.manifests['b1'].segments))
        volume[2 * helpers.OBJECT:2 * helpers.OBJECT + 9000] = bytes(9000)
        engine.backup('b2', volume, 'b1')
        self.assertEqual(bytes(volume), engine.restore('b2', len(volume)))

    def test_restore_writes_each_byte_once_on_new_volume(self):
        engine = helpers.Engine()
        volume = helpers.mixed_volume(12 * helpers.OBJECT)
        engine.backup('b1', volume)
        volume[1000:90000] = random.Random(4).randbytes(89000)
        engine.backup('b2', volume, 'b1')

        writes = []

        class Recorder(object):
            position = 0

            def seek(self, offset):
                self.position = offset

            def write(self, data):
                writes.append((self.position, len(data)))
                self.position += len(data)

            def flush(self):
                pass

        newest = engine.manifests['b2']
        from cinder_backup_ext.engine import restore_job
        from cinder_backup_ext.runtime import concurrency
        with concurrency.NativeWorkers(2) as workers:
            restore_job.RestoreReader(
                engine.repo, [engine.locations[i] for i in newest.chain],
                newest, workers, 2).run(Recorder(), True)
        covered = bytearray(len(volume))
        for offset, length in writes:
            for position in range(offset, offset + length):
                covered[position] += 1
        self.assertLessEqual(max(covered), 1)
        # zeros are not written to a new volume
        self.assertEqual(0, covered[helpers.OBJECT * 12 // 3 + 10])


class CorruptionTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.engine = helpers.Engine()
        self.volume = helpers.mixed_volume(6 * helpers.OBJECT)
        self.engine.backup('b1', self.volume)
        self.directory = self.engine.locations['b1'].directory

    def _damage(self, name, change):
        key = (self.directory, name)
        self.engine.store.objects[key] = change(
            self.engine.store.objects[key])

    def _assert_detected(self, name):
        error = self.assertRaises(exception.BackupCorrupted,
                                  self.engine.restore, 'b1',
                                  len(self.volume))
        self.assertIn('b1', str(error))
        self.assertIn(name, str(error))
        return error

    def test_flipped_byte_in_data_object(self):
        name = layout.data_object_name(0)
        self._damage(name, lambda d: bytes([d[0] ^ 1]) + d[1:])
        self.assertIn('digest', str(self._assert_detected(name)))

    def test_truncated_data_object(self):
        name = layout.data_object_name(0)
        self._damage(name, lambda d: d[:-1])
        self.assertIn('size', str(self._assert_detected(name)))

    def test_missing_data_object(self):
        name = layout.data_object_name(0)
        self.engine.store.delete_object(self.directory, name)
        self.assertIn('missing', str(self._assert_detected(name)))

    def test_damaged_index(self):
        name = layout.index_object_name(0)
        self._damage(name, lambda d: d[:10] + b'x' + d[11:])
        self._assert_detected(name)


class FingerprintTest(testtools.TestCase):

    def test_zero_blocks_are_found_among_data(self):
        from cinder_backup_ext.engine import fingerprint
        block = 4096
        data = bytearray(random.Random(1).randbytes(10 * block + 100))
        data[block:3 * block] = bytes(2 * block)
        data[10 * block:] = bytes(100)
        prints, zeros = fingerprint.scan(bytes(data), block)
        self.assertEqual([False, True, True] + [False] * 7 + [True], zeros)
        self.assertEqual(11 * fingerprint.SIZE, len(prints))
        self.assertEqual(fingerprint.block_fingerprint(data[:block]),
                         prints[:fingerprint.SIZE])

    def test_all_zero_chunk_matches_block_by_block_hashing(self):
        from cinder_backup_ext.engine import fingerprint
        data = bytes(5 * 4096 + 7)
        prints, zeros = fingerprint.scan(data, 4096)
        expected = b''.join(fingerprint.block_fingerprint(data[i:i + 4096])
                            for i in range(0, len(data), 4096))
        self.assertEqual(expected, prints)
        self.assertEqual([True] * 6, zeros)
