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

"""Backups onto a file system that fills up.

The repository is a size-limited tmpfs (root only; the test skips
otherwise).  A filler file leaves a seeded choice of free space, so the
disk fills while data objects, the segment index, the manifest or a
directory is being written; a second tmpfs has too few inodes instead of
too few blocks.  Each failure must be a Cinder error that says the disk is
full, leave no complete-looking backup and no debris, and give back every
block and inode it took; a backup that fits must still work afterwards.
"""

import errno
import os
import random
import subprocess

from cinder import exception as cinder_exception

from tests.functional.reliability import figures
from tests.functional.reliability import repo_check
from tests.unit import driver_base as base

OBJ = base.OBJECT_SIZE
SEED = 20261124
FS_BYTES = 2 * 1024 * 1024
VOLUME_BYTES = 12 * OBJ
FILL_LEVELS = 10


def mount_tmpfs(test, path, options):
    os.makedirs(path)
    if os.geteuid() != 0:
        test.skipTest('mounting a size-limited tmpfs needs root')
    result = subprocess.run(['mount', '-t', 'tmpfs', '-o', options, 'tmpfs',
                             path], stderr=subprocess.PIPE,
                            universal_newlines=True)
    if result.returncode:
        test.skipTest('cannot mount a tmpfs here: %s' % result.stderr)
    test.addCleanup(subprocess.run, ['umount', '-l', path])


def usage(path):
    status = os.statvfs(path)
    return status.f_bfree, status.f_ffree


class FullDiskTest(base.DriverTestCase):

    def setUp(self):
        super().setUp()
        self.small = os.path.join(self.tmp, 'small')
        mount_tmpfs(self, self.small, 'size=%d,mode=0770' % FS_BYTES)
        self.point_repository_at(os.path.join(self.small, 'repo'))

    def point_repository_at(self, path):
        os.makedirs(path, exist_ok=True)
        self.repo = path
        self.flags(backup_posix_path=path)

    def fill(self, leave):
        """A filler file leaving about `leave` bytes free."""
        status = os.statvfs(self.small)
        free = status.f_bavail * status.f_frsize
        filler = os.path.join(self.small, 'filler')
        with open(filler, 'wb') as f:
            f.write(bytes(max(0, free - leave)))
        return filler

    def failed_backup(self, data):
        """Run a backup that must fail for lack of space; return the
        error."""
        backup = self.create_backup_record()
        path = self.write_volume(data)
        before = usage(self.small)
        with open(path, 'rb') as f:
            try:
                self.make_driver().backup(backup, f)
            except cinder_exception.CinderException as error:
                self.assertNotIn(backup.id,
                                 repo_check.complete_backups(self.repo))
                self.assertEqual([], repo_check.debris(self.repo))
                self.assertEqual([], repo_check.temp_files(self.repo))
                self.assertEqual(before, usage(self.small),
                                 'blocks or inodes were not given back')
                return backup, error
        return self.reload(backup), None

    def test_disk_fills_at_every_stage(self):
        first_data = base.random_bytes(2 * OBJ, SEED)
        first = self.run_backup(first_data)
        data = base.random_bytes(VOLUME_BYTES, SEED + 1)
        rng = random.Random(SEED)
        # From no room at all to almost enough for the whole backup.
        levels = sorted(rng.randrange(0, VOLUME_BYTES + 6 * 4096)
                        for _ in range(FILL_LEVELS - 2)) + [0]
        # And room to spare: the same backup then succeeds.
        levels.append(2 * VOLUME_BYTES)
        failed = succeeded = 0
        for leave in levels:
            filler = self.fill(leave)
            backup, error = self.failed_backup(data)
            os.unlink(filler)
            if error is None:
                # It fitted after all: it must be a good backup.
                succeeded += 1
                backup.status = 'available'
                backup.save()
                self.assertRestores(backup, data)
                self.run_delete(backup)
                continue
            failed += 1
            self.assertIsInstance(error,
                                  cinder_exception.BackupDriverException)
            self.assertIn(os.strerror(errno.ENOSPC), str(error))
            self.assertIn(backup.id, str(error))
        self.assertGreater(failed, FILL_LEVELS // 2)
        self.assertGreater(succeeded, 0)
        # The earlier backup is untouched and a backup that fits works.
        self.assertRestores(first, first_data)
        again = self.run_backup(data)
        self.assertRestores(again, data)
        figures.report(self, 'full disk', fill_levels=len(levels),
                       failed_cleanly=failed, fitted=succeeded,
                       fs_bytes=FS_BYTES, seed=SEED)

    def test_out_of_inodes(self):
        few = os.path.join(self.tmp, 'few-inodes')
        # The root directory takes one inode; a backup needs about 20.
        mount_tmpfs(self, few, 'size=%d,nr_inodes=12' % FS_BYTES)
        self.small = few
        self.point_repository_at(os.path.join(few, 'repo'))
        backup, error = self.failed_backup(base.random_bytes(8 * OBJ, SEED))
        self.assertIsNotNone(error, 'the backup fitted in 12 inodes')
        self.assertIn(os.strerror(errno.ENOSPC), str(error))
        figures.report(self, 'out of inodes', inodes=12, failed_cleanly=1)
