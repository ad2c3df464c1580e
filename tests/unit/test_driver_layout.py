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

"""What the repository looks like after the driver API has been used.

These are the documented promises of the on-disk format that a second
implementation, or an operator with ls, relies on, plus the promise that a
restore to a new volume writes each byte at most once.
"""

import hashlib
import os
import stat

from tests.unit import driver_base as base

OBJ = base.OBJECT_SIZE
BLK = base.BLOCK_SIZE
FORMAT_MARK = 'cinder_backup_ext:2'


class LayoutTest(base.DriverTestCase):

    def _expected_dir(self, container, backup_id):
        h = hashlib.sha256(backup_id.encode()).hexdigest()
        return os.path.join(self.repo, container, h[0:2], h[2:4], backup_id)

    def test_backup_directory_and_record(self):
        backup = self.run_backup(base.random_bytes(5 * OBJ, seed=170))
        self.assertEqual(FORMAT_MARK, backup.service_metadata)
        self.assertEqual('backups', backup.container)
        directory = self._expected_dir('backups', backup.id)
        self.assertEqual([directory], self.backup_dirs(backup))
        files = base.tree_files(directory)
        self.assertIn('manifest.json', files)
        self.assertTrue(any(f.startswith('data' + os.sep) for f in files))
        self.assertTrue(any(f.startswith('index' + os.sep) for f in files))
        # Nothing outside the backup's own directory.
        prefix = os.path.relpath(directory, self.repo) + os.sep
        for rel in base.tree_files(self.repo):
            self.assertTrue(rel.startswith(prefix), rel)

    def test_user_container_directory(self):
        backup = self.run_backup(base.random_bytes(2 * OBJ, seed=171),
                                 container='team-a/nightly')
        self.assertEqual([self._expected_dir('team-a/nightly', backup.id)],
                         self.backup_dirs(backup))

    def test_permissions(self):
        backup = self.run_backup(base.random_bytes(3 * OBJ, seed=172))
        directory = self.backup_dir(backup)
        for dirpath, dirs, files in os.walk(directory):
            for name in dirs:
                mode = stat.S_IMODE(os.stat(os.path.join(dirpath, name))
                                    .st_mode)
                self.assertEqual(0o770, mode, os.path.join(dirpath, name))
            for name in files:
                mode = stat.S_IMODE(os.stat(os.path.join(dirpath, name))
                                    .st_mode)
                self.assertEqual(0o660, mode, os.path.join(dirpath, name))

    def test_no_temporary_files_left(self):
        v0 = base.random_bytes(6 * OBJ, seed=173)
        full = self.run_backup(v0)
        self.run_backup(v0[:BLK] + bytes(BLK) + v0[2 * BLK:], parent=full)
        self.assertRestores(full, v0)
        for rel in base.tree_files(self.repo):
            name = os.path.basename(rel)
            self.assertTrue(
                name == 'manifest.json' or name.isdigit(),
                'unexpected file %s' % rel)

    def test_many_data_objects(self):
        # The fixture's small objects must really spread a volume out.
        data = base.random_bytes(16 * OBJ, seed=174)
        backup = self.run_backup(data)
        self.assertGreaterEqual(len(self.data_objects(backup)), 16)


class WriteOnceTest(base.DriverTestCase):
    """A new volume reads as zeros: restore writes data, each byte once."""

    def _count_writes(self, backup, size):
        target = self.new_target(size)
        counted = {}

        def wrap(f):
            counted['file'] = base.HookedFile(f)
            return counted['file']

        self.run_restore(backup, target, True, wrap=wrap)
        return counted['file'].bytes_written

    def test_full_restore_skips_zeros(self):
        data = (base.random_bytes(4 * OBJ, seed=180) + bytes(8 * OBJ) +
                base.random_bytes(2 * OBJ, seed=181))
        backup = self.run_backup(data)
        self.assertLessEqual(self._count_writes(backup, len(data)), 6 * OBJ)
        self.assertRestores(backup, data)

    def test_chain_restore_writes_each_byte_at_most_once(self):
        v0 = base.random_bytes(12 * OBJ, seed=182)
        chain = [self.run_backup(v0)]
        state = v0
        for i in range(4):
            offset = (2 * i + 1) * OBJ
            state = (state[:offset] +
                     base.random_bytes(OBJ + BLK, seed=183 + i) +
                     state[offset + OBJ + BLK:])
            chain.append(self.run_backup(state, parent=chain[-1]))
        self.assertLessEqual(self._count_writes(chain[-1], len(state)),
                             len(state))
        self.assertRestores(chain[-1], state)

    def test_chain_restore_of_zeroed_data_writes_nothing_there(self):
        v0 = base.random_bytes(8 * OBJ, seed=190)
        full = self.run_backup(v0)
        v1 = v0[:2 * OBJ] + bytes(6 * OBJ)
        incr = self.run_backup(v1, parent=full)
        self.assertLessEqual(self._count_writes(incr, len(v1)), 2 * OBJ)
        self.assertRestores(incr, v1)
