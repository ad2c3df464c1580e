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

"""The operator tools' pure parts: the on-demand image reader of `mount`,
durations and the recognition of backup directories."""

import random

import testtools

from cinder_backup_ext.cmd import context as tool_context
from cinder_backup_ext.cmd import image
from cinder_backup_ext.cmd import scan
from cinder_backup_ext import exception
from cinder_backup_ext import layout
from tests.unit import engine_helpers as helpers


def _image(engine, backup_id, cache_objects=2):
    newest = engine.manifests[backup_id]
    locations = [engine.locations[i] for i in newest.chain]
    return image.BackupImage(engine.repo, locations, newest,
                             cache_objects=cache_objects)


class BackupImageTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.engine = helpers.Engine()
        self.volume = helpers.mixed_volume(1000003, seed=5)
        self.engine.backup('b1', self.volume)
        # An incremental whose reads come from both chain members.
        self.changed = bytearray(self.volume)
        rng = random.Random(6)
        for _ in range(20):
            at = rng.randrange(len(self.changed) - 5000)
            self.changed[at:at + 5000] = rng.randbytes(5000)
        self.engine.backup('b2', self.changed, parent_id='b1')

    def test_random_reads_match_the_volume(self):
        for backup_id, expected in (('b1', self.volume),
                                    ('b2', self.changed)):
            reader = _image(self.engine, backup_id)
            rng = random.Random(7)
            for _ in range(300):
                offset = rng.randrange(len(expected))
                length = rng.randrange(1, 200000)
                self.assertEqual(bytes(expected[offset:offset + length]),
                                 reader.read(offset, length))

    def test_whole_image_in_odd_pieces_and_past_the_end(self):
        reader = _image(self.engine, 'b2')
        pieces = []
        offset = 0
        while offset < len(self.changed):
            pieces.append(reader.read(offset, 12345))
            offset += 12345
        self.assertEqual(bytes(self.changed), b''.join(pieces))
        self.assertEqual(b'', reader.read(len(self.changed), 10))
        self.assertEqual(bytes(self.changed[-3:]),
                         reader.read(len(self.changed) - 3, 100))

    def test_cache_is_bounded_and_used(self):
        reader = _image(self.engine, 'b1', cache_objects=2)
        reader.read(0, 100)
        reader.read(50, 100)
        # The second read of the same object came from the cache.
        self.assertEqual((1, 1), (reader.objects.misses,
                                  reader.objects.hits))
        reader.read(0, len(self.volume))
        self.assertGreater(reader.objects.misses, 3)
        self.assertLessEqual(len(reader.objects), 2)

    def test_damaged_object_is_an_error_naming_it(self):
        location = self.engine.locations['b1']
        name = layout.data_object_name(0)
        stored = bytearray(self.engine.store.get_object(location.directory,
                                                        name))
        stored[len(stored) // 2] ^= 0x01
        self.engine.store.put_object(location.directory, name,
                                     bytes(stored))
        reader = _image(self.engine, 'b1')
        error = self.assertRaises(exception.BackupCorrupted, reader.read,
                                  0, 10)
        self.assertIn(name, str(error))
        self.assertIn('digest mismatch', str(error))


class LRUTest(testtools.TestCase):

    def test_least_recently_used_goes_first(self):
        cache = image.LRU(2)
        loads = []

        def load(key):
            return lambda: loads.append(key) or key
        cache.get('a', load('a'))
        cache.get('b', load('b'))
        cache.get('a', load('a'))
        cache.get('c', load('c'))
        cache.get('a', load('a'))
        cache.get('b', load('b'))
        self.assertEqual(['a', 'b', 'c', 'b'], loads)


class DurationTest(testtools.TestCase):

    def test_units(self):
        self.assertEqual(90, tool_context.parse_duration('90'))
        self.assertEqual(90, tool_context.parse_duration('90s'))
        self.assertEqual(1800, tool_context.parse_duration('30m'))
        self.assertEqual(86400, tool_context.parse_duration('24h'))
        self.assertEqual(7 * 86400, tool_context.parse_duration('7d'))
        self.assertEqual(0, tool_context.parse_duration('0'))

    def test_garbage_is_refused(self):
        for text in ('', 'h', '-1h', '3 days', '1y'):
            self.assertRaises(ValueError, tool_context.parse_duration, text)


class BackupDirectoryNameTest(testtools.TestCase):

    def test_layout_names_are_recognised(self):
        for container in ('backups', 'a/b c', 'x@y+z'):
            directory = layout.backup_directory(container, 'b-1')
            self.assertEqual((container, 'b-1'),
                             scan.split_backup_directory(directory))

    def test_other_names_are_not(self):
        good = layout.backup_directory('backups', 'b-1')
        for name in ('backups', 'backups/00/00/b-1', good + '/data',
                     good.replace('b-1', 'b-2'), 'ab/cd/b-1',
                     '../' + good):
            self.assertIsNone(scan.split_backup_directory(name))
