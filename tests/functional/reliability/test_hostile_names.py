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

"""Hostile container names, backup IDs and symbolic links.

Container names come from users of the Cinder API; backup IDs and the
repository's contents come from the database and the share.  Whatever
they hold, the driver reads and writes only inside the repository: a name
is refused with InvalidBackup or stays inside, and a symbolic link planted
in the repository is never followed out of it (a delete through one would
remove files anywhere on the backup host).
"""

import collections
import os
import shutil
import types

import hypothesis
from hypothesis import strategies as st

from cinder import exception as cinder_exception

from cinder_backup_ext.repository import layout
from cinder_backup_ext.repository import records
from tests.functional.reliability import figures
from tests.unit import driver_base as base

OBJ = base.OBJECT_SIZE
NAME_EXAMPLES = int(os.environ.get('CBE_FUZZ_NAME_EXAMPLES', '400'))
BACKUP_EXAMPLES = int(os.environ.get('CBE_FUZZ_BACKUP_EXAMPLES', '40'))

_PIECES = st.sampled_from(['..', '.', '', 'a', 'backups', '/', '~', 'x y',
                           '$HOME', '\x00', 'a\nb', '..a', 'a..', '-rf',
                           '\u2024\u2024', '%2e%2e', '\\..\\', 'C:'])
HOSTILE_NAMES = st.one_of(
    st.text(max_size=40),
    st.lists(_PIECES, min_size=1, max_size=6).map('/'.join),
    st.lists(_PIECES, min_size=1, max_size=6).map(''.join),
    st.sampled_from(['/etc', '../../etc', 'a/../../b', 'a/./b', '//x',
                     'x' * 300, 'ok/' * 90, '.', '..']),
)
# Valid names too, so that accepted ones are checked as well.
CONTAINERS = st.one_of(HOSTILE_NAMES, st.sampled_from(
    ['backups', 'a/b c', 'x@y+z/-_.', 'deep/' * 10 + 'end']))
BACKUP_IDS = st.one_of(HOSTILE_NAMES, st.uuids().map(str))


def settings(examples):
    return hypothesis.settings(
        max_examples=examples, derandomize=True, database=None,
        deadline=None, suppress_health_check=list(hypothesis.HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate])


def stays_inside(relative):
    return not os.path.isabs(relative) and \
        os.path.normpath(relative).split('/')[0] != '..' and \
        '\x00' not in relative


class HostileNamesTest(base.DriverTestCase):

    def setUp(self):
        super().setUp()
        self.outcomes = collections.Counter()
        self.before = self.outside_entries()

    def outside_entries(self):
        return {rel for rel in base.tree_entries(self.tmp)
                if not os.path.join(self.tmp, rel).startswith(
                    (self.repo, self.work))}

    def tearDown(self):
        if self.outcomes:
            figures.report(self, 'hostile %s' % self._testMethodName,
                           cases=sum(self.outcomes.values()),
                           **dict(self.outcomes))
        super().tearDown()

    @settings(NAME_EXAMPLES)
    @hypothesis.given(CONTAINERS, BACKUP_IDS)
    def test_layout_refuses_or_stays_inside(self, container, backup_id):
        try:
            directory = layout.backup_directory(container, backup_id)
        except cinder_exception.InvalidBackup:
            self.outcomes['refused'] += 1
            return
        self.outcomes['accepted'] += 1
        self.assertTrue(stays_inside(directory), directory)
        self.assertEqual(backup_id, os.path.basename(directory))

    @settings(BACKUP_EXAMPLES)
    @hypothesis.given(CONTAINERS)
    def test_backup_into_hostile_container(self, container):
        data = base.random_bytes(2 * OBJ, 7)
        backup = self.create_backup_record(container=container)
        path = self.write_volume(data)
        try:
            with open(path, 'rb') as f:
                self.make_driver().backup(backup, f)
        except cinder_exception.InvalidBackup:
            self.outcomes['refused'] += 1
            self.assertEqual([], base.tree_files(self.repo))
        else:
            self.outcomes['stored inside'] += 1
            backup = self.reload(backup)
            backup.status = 'available'
            backup.save()
            self.assertRestores(backup, data)
            self.run_delete(backup)
            self.assertEqual([], base.tree_files(self.repo))
        self.assertEqual(self.before, self.outside_entries())

    @settings(NAME_EXAMPLES // 4)
    @hypothesis.given(CONTAINERS, BACKUP_IDS)
    def test_delete_with_hostile_record(self, container, backup_id):
        # A record as a damaged database or an imported record could
        # carry it: the delete must touch nothing outside.
        victim = os.path.join(self.outside, 'victim')
        with open(victim, 'w') as f:
            f.write('keep me')
        # Not a Cinder object: those refuse IDs that are not UUIDs, and
        # the driver must not rely on that.
        backup = types.SimpleNamespace(
            id=backup_id, container=container,
            service_metadata=records.service_metadata())
        try:
            self.make_driver().delete_backup(backup)
            self.outcomes['nothing to delete'] += 1
        except cinder_exception.InvalidBackup:
            self.outcomes['refused'] += 1
        self.assertTrue(os.path.exists(victim))
        os.unlink(victim)
        self.assertEqual(self.before, self.outside_entries())


class PlantedSymlinkTest(base.DriverTestCase):

    def setUp(self):
        super().setUp()
        self.data = base.random_bytes(4 * OBJ, 8)
        self.backup = self.run_backup(self.data)
        self.directory = self.backup_dir(self.backup)
        self.elsewhere = os.path.join(self.tmp, 'elsewhere')
        os.makedirs(self.elsewhere)

    def outside_copy(self, path):
        copy = os.path.join(self.elsewhere, os.path.basename(path))
        shutil.copyfile(path, copy)
        return copy

    def replace_with_link(self, path):
        """path becomes a symbolic link to an identical copy outside the
        repository: following it would go unnoticed by every digest."""
        copy = self.outside_copy(path)
        os.unlink(path)
        os.symlink(copy, path)

    def test_linked_data_object_is_not_read(self):
        self.replace_with_link(self.data_objects(self.backup)[1])
        error = self.assertRaises(cinder_exception.CinderException,
                                  self.restore_bytes, self.backup,
                                  len(self.data), True)
        self.assertIn('symbolic link', str(error))

    def test_linked_manifest_is_not_read(self):
        self.replace_with_link(os.path.join(self.directory, 'manifest.json'))
        error = self.assertRaises(cinder_exception.CinderException,
                                  self.restore_bytes, self.backup,
                                  len(self.data), True)
        self.assertIn('symbolic link', str(error))

    def test_delete_through_linked_directory_removes_nothing_outside(self):
        moved = os.path.join(self.elsewhere, self.backup.id)
        shutil.move(self.directory, moved)
        os.symlink(moved, self.directory)
        before = base.tree_files(moved)
        self.assertNotEqual([], before)
        self.assertRaises(cinder_exception.CinderException,
                          self.run_delete, self.backup)
        self.assertEqual(before, base.tree_files(moved))

    def test_delete_through_linked_fan_out_removes_nothing_outside(self):
        fan = os.path.dirname(os.path.dirname(self.directory))
        moved = os.path.join(self.elsewhere, 'fan')
        shutil.move(fan, moved)
        os.symlink(moved, fan)
        before = base.tree_files(moved)
        self.assertRaises(cinder_exception.CinderException,
                          self.run_delete, self.backup)
        self.assertEqual(before, base.tree_files(moved))

    def test_backup_below_linked_fan_out_writes_nothing_outside(self):
        backup = self.create_backup_record()
        directory = layout.backup_directory('backups', backup.id)
        fan = os.path.join(self.repo, os.path.dirname(directory))
        os.makedirs(os.path.dirname(fan), exist_ok=True)
        if os.path.exists(fan):
            shutil.rmtree(fan)
        os.symlink(self.elsewhere, fan)
        path = self.write_volume(self.data)
        with open(path, 'rb') as f:
            self.assertRaises(cinder_exception.CinderException,
                              self.make_driver().backup, backup, f)
        self.assertEqual([], base.tree_files(self.elsewhere))
