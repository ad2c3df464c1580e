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

"""EIO and ESTALE (and silently damaged reads) from the storage layer.

A FaultyStore fails one numbered storage operation of a backup, restore
or delete, or every operation from one on, at seeded points.  Each run
must end in a Cinder exception whose message carries the error, or in a
result as good as one without a fault: a backup that failed leaves no
manifest, a restore never completes with wrong data, a failed delete can
be run again.  (A real NFS server going away is tested in
tests/functional/test_nfs_driver.py.)
"""

import collections
import errno
import os
import random
import shutil

from cinder import exception as cinder_exception

from cinder_backup_ext import exception

from tests.functional.reliability import faulty_store
from tests.functional.reliability import figures
from tests.functional.reliability import repo_check
from tests.unit import driver_base as base

OBJ = base.OBJECT_SIZE
SEED = 20261125
ERRNOS = (errno.EIO, errno.ESTALE)
POINTS = int(os.environ.get('CBE_IO_POINTS', '16'))


class IOErrorTest(base.DriverTestCase):

    def setUp(self):
        super().setUp()
        self.rng = random.Random(SEED)
        self.outcomes = collections.Counter()
        self.driver = faulty_store.FaultyPosixDriver
        self.addCleanup(setattr, self.driver, 'plan',
                        faulty_store.FaultPlan())
        self.data = b''.join([base.random_bytes(4 * OBJ, 1), bytes(OBJ),
                              base.compressible_bytes(3 * OBJ, 2)])
        self.full = self.run_backup(self.data)
        changed = bytearray(self.data)
        changed[2 * OBJ:2 * OBJ + 5000] = base.random_bytes(5000, 3)
        self.changed = bytes(changed)

    def plan(self, at=None, mode='before', errnum=errno.EIO):
        self.driver.plan = faulty_store.FaultPlan(at, mode, errnum)
        return self.driver.plan

    def operations(self, action, undo=None):
        """How many storage operations action() makes without faults."""
        plan = self.plan()
        result = action()
        if undo is not None:
            undo(result)
        return plan.count

    def faults(self, count, modes):
        """Seeded (point, mode, errno) triples within count operations."""
        return [(self.rng.randint(1, count), self.rng.choice(modes),
                 self.rng.choice(ERRNOS)) for _ in range(POINTS)]

    def assertClear(self, error, plan):
        text = str(error)
        if plan.mode in faulty_store.READ_ONLY_MODES:
            # Bytes changed on the way: a checksum, digest or size check
            # names the object it failed on.
            self.assertIsInstance(error, exception.BackupCorrupted)
            self.assertIn('is damaged: object', text)
        else:
            self.assertIn(os.strerror(plan.errnum), text)

    def report(self, title, faults=POINTS):
        figures.report(self, title, seed=SEED, faults=faults,
                       **{k.replace(' ', '_'): v
                          for k, v in self.outcomes.items()})

    def test_backup_fails_cleanly(self):
        def incremental():
            return self.run_backup(self.changed, parent=self.full,
                                   driver_class=self.driver)
        count = self.operations(incremental, self.run_delete)
        for at, mode, errnum in self.faults(count, ('before', 'after',
                                                    'persistent')):
            plan = self.plan(at, mode, errnum)
            try:
                backup = incremental()
            except cinder_exception.CinderException as error:
                self.assertClear(error, plan)
                self.outcomes['failed cleanly'] += 1
            else:
                self.outcomes['unaffected'] += 1
                self.assertRestores(backup, self.changed)
                continue
            self.assertEqual([self.full.id],
                             repo_check.complete_backups(self.repo),
                             'a failed backup left a manifest')
            self.assertEqual([], repo_check.manifest_failures(self.repo))
            # A server that stays away also fails the clean-up; what is
            # left has no manifest, for the orphans tool to find.
            left = repo_check.debris(self.repo)
            self.outcomes['debris left'] += len(left)
            if left:
                self.assertEqual('persistent', mode)
                for backup_id in left:
                    shutil.rmtree(repo_check.backup_directories(
                        self.repo)[backup_id])
        self.plan()
        self.assertRestores(self.full, self.data)
        self.report('io errors during backup')

    def test_restore_never_wrong(self):
        incremental = self.run_backup(self.changed, parent=self.full)
        count = self.operations(
            lambda: self.restore_bytes(incremental, len(self.changed), True,
                                       driver_class=self.driver))
        want = base.sha256_bytes(self.changed)
        for at, mode, errnum in self.faults(
                count, ('before', 'persistent', 'truncate', 'flip')):
            plan = self.plan(at, mode, errnum)
            try:
                got = self.restore_bytes(incremental, len(self.changed),
                                         False, driver_class=self.driver)
            except cinder_exception.CinderException as error:
                self.assertClear(error, plan)
                self.outcomes['failed cleanly'] += 1
            else:
                self.assertEqual(want, got, 'wrong restore after a fault')
                self.outcomes['unaffected'] += 1
        self.outcomes['wrong restores'] += 0
        self.report('io errors during restore')

    def test_failed_delete_can_be_repeated(self):
        backups = [self.run_backup(base.random_bytes(6 * OBJ, 10 + n))
                   for n in range(POINTS // 2)]
        count = self.operations(
            lambda: self.make_driver(self.driver).delete_backup(
                self.run_backup(base.random_bytes(6 * OBJ, 9))))
        for backup, (at, mode, errnum) in zip(
                backups, self.faults(count, ('before', 'after',
                                             'persistent'))):
            plan = self.plan(at, mode, errnum)
            try:
                self.make_driver(self.driver).delete_backup(backup)
                self.outcomes['unaffected'] += 1
            except cinder_exception.CinderException as error:
                self.assertClear(error, plan)
                self.outcomes['failed cleanly'] += 1
                self.plan()
                self.make_driver(self.driver).delete_backup(backup)
            self.assertEqual([], self.backup_dirs(backup))
        self.assertEqual([self.full.id],
                         repo_check.complete_backups(self.repo))
        self.report('io errors during delete', POINTS // 2)
