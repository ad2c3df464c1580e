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

"""`cinder-backup-ext verify` and `inspect` on repositories the drivers
made: intact backups pass, a flipped byte, a truncated object and a
missing object are each caught and named (a flipped byte by --deep only),
for this library's format and for Cinder's 1.0.0.
"""

import glob
import os

import fixtures
import testtools

from cinder_backup_ext.repository import layout
from cinder_backup_ext.repository import repository
from cinder_backup_ext.storage import posix
from tests.functional import tools_fixture

MiB = 1024 * 1024


def data_objects(env, backup_id):
    directory = os.path.join(env.repository, layout.backup_directory(
        'backups', backup_id))
    found = sorted(glob.glob(os.path.join(directory, 'data', '*', '*')))
    assert found, 'no data objects in %s' % directory
    return found


def legacy_objects(env, backup_id):
    found = sorted(glob.glob(os.path.join(
        env.repository, backup_id[0:2], backup_id[2:4], backup_id,
        '*_backup_%s-*' % backup_id)))
    assert found, 'no Cinder objects for %s' % backup_id
    return found


def flip_byte(path):
    with open(path, 'r+b') as f:
        f.seek(os.path.getsize(path) // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0x10]))


def relative(env, path):
    return os.path.relpath(path, env.repository)


class VerifyTestCase(testtools.TestCase):
    """One repository, several backups; each test damages its own."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tempdir = fixtures.TempDir()
        cls.tempdir.setUp()
        test = cls('test_intact_backups_pass')
        env = tools_fixture.ToolsEnvironment(test, cls.tempdir.path)
        volume = os.path.join(cls.tempdir.path, 'volume.img')
        tools_fixture.write_volume(volume, 4 * MiB, seed=1)
        made = env.backup(volume, count=6)
        cls.full = made['backups']
        with open(volume, 'r+b') as f:
            # Change a little of the volume: the incrementals keep the
            # rest in their parents.
            f.seek(MiB)
            f.write(b'%0128d' % 7 * (300 * 8))
        cls.incremental = env.backup(volume, parent=cls.full[0],
                                     volume=made['volume'])['backup']
        cls.incremental2 = env.backup(volume, parent=cls.full[4],
                                      volume=made['volume'])['backup']
        cls.legacy = env.backup(volume, driver=tools_fixture.CINDER_DRIVER,
                                count=2)['backups']
        cls.env = env

    @classmethod
    def tearDownClass(cls):
        cls.tempdir.cleanUp()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.env.test = self

    def verify(self, *args, expect):
        return self.env.tool_json('verify', *args, expect=expect)

    def test_intact_backups_pass(self):
        ids = (self.full[0], self.incremental, self.legacy[0])
        result = self.verify('--deep', *ids, expect=0)
        self.assertTrue(result['ok'])
        reports = {r['backup']: r for r in result['backups']}
        self.assertEqual(set(ids), set(reports))
        self.assertEqual([self.incremental, self.full[0]],
                         reports[self.incremental]['chain'])
        self.assertEqual('1.0.0', reports[self.legacy[0]]['format'])
        self.assertEqual('2', reports[self.full[0]]['format'])
        for report in reports.values():
            self.assertGreater(report['objects'], 3)
            self.assertEqual('deep', report['mode'])
            self.assertEqual([], report['problems'])
        proc = self.env.tool('verify', *ids)
        self.assertEqual(0, proc.returncode, proc.stderr)
        self.assertIn('%s (format 2, chain of 1, quick): OK'
                      % self.full[0], proc.stdout)
        self.assertIn('3 backups checked, 0 damaged', proc.stdout)

    def test_damage_is_named_quick_misses_only_a_flipped_byte(self):
        flipped = data_objects(self.env, self.full[1])[3]
        flip_byte(flipped)
        truncated = data_objects(self.env, self.full[2])[1]
        size = os.path.getsize(truncated)
        os.truncate(truncated, size - 100)
        missing = data_objects(self.env, self.full[3])[0]
        os.unlink(missing)
        # The second incremental reads most of its data from its parent.
        inherited = data_objects(self.env, self.full[4])[0]
        os.unlink(inherited)
        legacy_flipped = legacy_objects(self.env, self.legacy[1])[0]
        flip_byte(legacy_flipped)
        expected = {
            self.full[2]: (relative(self.env, truncated),
                           'stored size is %d bytes, expected %d'
                           % (size - 100, size)),
            self.full[3]: (relative(self.env, missing), 'object is missing'),
            self.incremental2: (relative(self.env, inherited),
                                'object is missing'),
        }
        victims = (self.full[1], self.full[2], self.full[3],
                   self.incremental2, self.legacy[1])

        quick = self.verify(*victims, expect=1)
        reports = {r['backup']: r for r in quick['backups']}
        self.assertEqual([], reports[self.full[1]]['problems'])
        self.assertEqual([], reports[self.legacy[1]]['problems'])
        for backup_id, (name, reason) in expected.items():
            [problem] = reports[backup_id]['problems']
            self.assertEqual(name, problem['object'])
            self.assertEqual(reason, problem['reason'])
        self.assertEqual(self.full[4],
                         reports[self.incremental2]['problems'][0]['backup'])

        deep = self.verify('--deep', '--all', expect=1)
        reports = {r['backup']: r for r in deep['backups']}
        [problem] = reports[self.full[1]]['problems']
        self.assertEqual(relative(self.env, flipped), problem['object'])
        self.assertIn('digest mismatch', problem['reason'])
        [problem] = reports[self.legacy[1]]['problems']
        self.assertEqual(relative(self.env, legacy_flipped),
                         problem['object'])
        for backup_id, (name, reason) in expected.items():
            self.assertIn(name, [p['object'] for p in
                                 reports[backup_id]['problems']])
        intact = (self.full[0], self.incremental, self.legacy[0])
        for backup_id in intact:
            self.assertTrue(reports[backup_id]['ok'])

        proc = self.env.tool('verify', '--deep', self.full[1])
        self.assertEqual(1, proc.returncode)
        self.assertIn('DAMAGED', proc.stdout)
        self.assertIn('backup %s: %s: ' % (self.full[1],
                                           relative(self.env, flipped)),
                      proc.stdout)

    def test_deep_proves_the_blocks_quick_cannot(self):
        # Two data extents trade objects: every object is intact, and the
        # index is well formed and sealed, as a bookkeeping bug in a
        # writer would leave it.  Only the fingerprints can tell.
        backup_id = self.full[5]
        location = repository.BackupLocation('backups', backup_id)
        repo = repository.Repository(posix.PosixStore(self.env.repository))
        stored = repo.read_manifest(location)
        index = repo.read_index(location, stored.segments[0], 1)
        data = [i for i, e in enumerate(index.extents) if e.ref is not None]
        first, second = index.extents[data[0]], index.extents[data[1]]
        self.assertEqual(first.length, second.length)
        index.extents[data[0]] = first._replace(ref=second.ref)
        index.extents[data[1]] = second._replace(ref=first.ref)
        stored.segments[0] = repo.write_index(location, 'zstd', index)
        repo.write_manifest(location, stored)

        self.assertTrue(self.verify(backup_id, expect=0)['ok'])
        deep = self.verify('--deep', backup_id, expect=1)
        [report] = deep['backups']
        # Both objects now land on the other's blocks.
        found = {p['object']: p for p in report['problems']}
        self.assertEqual(2, len(report['problems']))
        for extent, ref in ((first, second.ref), (second, first.ref)):
            problem = found[relative(self.env, os.path.join(
                self.env.repository, location.directory,
                layout.data_object_name(ref.number)))]
            self.assertEqual(backup_id, problem['backup'])
            self.assertIn('block at volume offset %d does not match'
                          % extent.offset, problem['reason'])

    def test_inspect(self):
        info = self.env.tool_json('inspect', self.incremental)
        self.assertEqual('cinder-backup-ext 2', info['format'])
        self.assertEqual([self.incremental, self.full[0]],
                         [m['backup'] for m in info['chain']])
        self.assertEqual(4 * MiB, info['logical_bytes'])
        # write_volume makes a quarter of zeros and a quarter of text.
        self.assertAlmostEqual(0.25, info['zero_ratio'], delta=0.01)
        self.assertGreater(info['compression_ratio'], 1.2)
        self.assertIsNone(info['key_id'])
        self.assertGreater(info['inherited_bytes'], 0)
        self.assertGreater(info['chain_stored_bytes'], info['stored_bytes'])
        proc = self.env.tool('inspect', self.legacy[0])
        self.assertEqual(0, proc.returncode, proc.stderr)
        self.assertIn('cinder 1.0.0', proc.stdout)
