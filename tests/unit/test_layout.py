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

"""Names in the repository: fan-out and container validation."""

import collections
import uuid

from cinder import exception as cinder_exception
import testtools

from cinder_backup_ext.repository import layout


class LayoutTest(testtools.TestCase):

    def test_directory_is_stable_and_relative(self):
        first = layout.backup_directory('backups', 'abc-1')
        self.assertEqual(first, layout.backup_directory('backups', 'abc-1'))
        self.assertFalse(first.startswith('/'))
        self.assertTrue(first.endswith('/abc-1'))

    def test_fan_out_keeps_directories_small(self):
        leaves = collections.Counter(
            layout.fan_out(str(uuid.uuid4())) for _ in range(20000))
        tops = collections.Counter(key.split('/')[0] for key in leaves)
        self.assertEqual(256, len(tops))
        self.assertLess(max(tops.values()), 2 * 20000 / 256)

    def test_data_objects_are_grouped(self):
        self.assertEqual('data/00000/00000005', layout.data_object_name(5))
        self.assertEqual('data/00001/00001024',
                         layout.data_object_name(1024))

    def test_hostile_containers_are_rejected(self):
        for bad in ('../x', '/abs/path', 'a/../../b', 'a//b', '.', '', 'a/.',
                    'a\x00b', 'a/./b', '..', 'x/..', 'a\\..\\b', '$(id)',
                    'a' * 300, None, 5):
            self.assertRaises(cinder_exception.InvalidBackup,
                              layout.validate_container, bad)

    def test_ordinary_containers_are_accepted(self):
        for good in ('backups', 'team-a/daily', 'ab/cd/' + str(uuid.uuid4()),
                     'my container'):
            self.assertEqual(good, layout.validate_container(good))

    def test_hostile_backup_ids_are_rejected(self):
        for bad in ('../x', 'a/b', '', '.hidden', 'a..b', None):
            self.assertRaises(cinder_exception.InvalidBackup,
                              layout.validate_backup_id, bad)
