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

"""The operator tools' pure parts: the on-demand image reader of `mount`
and the modes and FUSE options it mounts with, durations and the
recognition of backup directories."""

import argparse
import io
import os
import random
import stat
import types
from unittest import mock

import fixtures
import testtools

from cinder_backup_ext.cmd import context as tool_context
from cinder_backup_ext.cmd import image
from cinder_backup_ext.cmd import mount
from cinder_backup_ext.cmd import scan
from cinder_backup_ext import exception
from cinder_backup_ext.repository import layout
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

    def test_a_wrong_mapping_over_intact_objects_is_an_error(self):
        # Two data extents trade objects in a well-formed, sealed index:
        # only the fingerprints can tell.
        location = self.engine.locations['b1']
        newest = self.engine.manifests['b1']
        index = self.engine.repo.read_index(location, newest.segments[0], 1)
        data = [i for i, e in enumerate(index.extents) if e.ref is not None
                and e.length == self.engine.object_size]
        first, second = index.extents[data[0]], index.extents[data[1]]
        index.extents[data[0]] = first._replace(ref=second.ref)
        index.extents[data[1]] = second._replace(ref=first.ref)
        newest.segments[0] = self.engine.repo.write_index(location, 'zstd',
                                                          index)
        self.engine.repo.write_manifest(location, newest)
        reader = _image(self.engine, 'b1')
        error = self.assertRaises(exception.BackupCorrupted, reader.read,
                                  first.offset, 10)
        self.assertIn(layout.data_object_name(second.ref.number), str(error))
        self.assertIn('block at volume offset %d does not match'
                      % first.offset, str(error))


class MountPermissionsTest(testtools.TestCase):
    """The image is a volume's plaintext: its owner's alone by default."""

    def parse(self, *argv):
        parser = argparse.ArgumentParser()
        mount.add_arguments(parser)
        return parser.parse_args(['backup-1', '/mnt/x'] + list(argv))

    def attributes(self, **kwargs):
        operations = mount.make_operations(
            types.SimpleNamespace(size=4096), 'b.img', None, **kwargs)
        return operations.getattr('/'), operations.getattr('/b.img')

    def test_owner_only_by_default(self):
        args = self.parse()
        self.assertEqual(0o400, args.mode)
        self.assertFalse(args.allow_other)
        root, image_file = self.attributes(mode=args.mode, gid=args.group)
        self.assertEqual(stat.S_IFREG | 0o400, image_file['st_mode'])
        self.assertEqual(stat.S_IFDIR | 0o500, root['st_mode'])
        self.assertEqual(os.getuid(), image_file['st_uid'])
        self.assertEqual(os.getgid(), image_file['st_gid'])
        options = mount.fuse_options('backup-1', args.allow_other)
        self.assertIs(True, options['default_permissions'])
        self.assertIs(True, options['ro'])
        self.assertNotIn('allow_other', options)

    def test_allow_other_keeps_the_kernel_checking_the_mode(self):
        args = self.parse('--allow-other')
        self.assertEqual(0o400, args.mode)
        options = mount.fuse_options('backup-1', args.allow_other)
        self.assertIs(True, options['allow_other'])
        self.assertIs(True, options['default_permissions'])

    def test_mode_and_group_stated_by_the_operator(self):
        args = self.parse('--allow-other', '--mode', '0440', '--group',
                          '4321')
        root, image_file = self.attributes(mode=args.mode, gid=args.group)
        self.assertEqual(stat.S_IFREG | 0o440, image_file['st_mode'])
        self.assertEqual(stat.S_IFDIR | 0o550, root['st_mode'])
        self.assertEqual(4321, image_file['st_gid'])
        root, image_file = self.attributes(mode=0o444)
        self.assertEqual(stat.S_IFDIR | 0o555, root['st_mode'])

    def test_modes_other_than_read_bits_are_refused(self):
        for text in ('0644', '0555', '4400', '0044', '0', 'rw', '9'):
            with mock.patch('sys.stderr', io.StringIO()) as stderr:
                self.assertRaises(SystemExit, self.parse, '--allow-other',
                                  '--mode', text)
            self.assertIn('--mode', stderr.getvalue())

    def test_unknown_group_is_refused(self):
        with mock.patch('sys.stderr', io.StringIO()) as stderr:
            self.assertRaises(SystemExit, self.parse, '--group',
                              'no-such-group-here')
        self.assertIn('no-such-group-here', stderr.getvalue())

    def test_mode_for_others_needs_allow_other(self):
        # Without allow_other FUSE turns every other user away, whatever
        # the mode says: refused rather than promising access.
        args = self.parse('--mode', '0444')
        args.mountpoint = self.useFixture(fixtures.TempDir()).path
        with mock.patch('sys.stderr', io.StringIO()) as stderr:
            self.assertEqual(tool_context.EXIT_USAGE, mount.run(args))
        self.assertIn('needs --allow-other', stderr.getvalue())


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
