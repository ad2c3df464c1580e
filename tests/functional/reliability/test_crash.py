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

"""SIGKILL in the middle of backups and deletes.

One cinder-backup host (posix_host) is killed at many points chosen by a
seeded random generator, each a numbered file system call of the storage
layer during a backup (full or incremental) or a delete.  After each kill,
the way cinder-backup carries on after a restart is replayed in the next
run: the interrupted backup is deleted (the manager marks it as failed and
the operator deletes it), an interrupted delete is run again, every earlier
backup is restored and compared byte for byte, and a new backup of the same
volume is made.  Between runs the repository is checked on disk: every
manifest validates, and the only directory without one belongs to the
interrupted operation.

CBE_CRASH_SEED and CBE_CRASH_POINTS change the seed and the number of
points; the figures line names both, so a failure is reproducible.
"""

import collections
import json
import os
import random

import fixtures
import testtools

from tests import checksums
from tests.functional import cli
from tests.functional.reliability import figures
from tests.functional.reliability import host_client
from tests.functional.reliability import repo_check

SEED = int(os.environ.get('CBE_CRASH_SEED', '20261122'))
CRASH_POINTS = int(os.environ.get('CBE_CRASH_POINTS', '52'))
BLOCK = 4096
VOLUME_SIZE = 128 * BLOCK
# Backups kept at once; more would only lengthen every run's restores.
MAX_KEPT = 3
MAX_CHAIN = 3
# The debris of backups killed in this many last runs stays until the end,
# for the orphans command to find.
KEPT_DEBRIS_RUNS = 8
# Storage calls of a backup before the first one is measured.
FIRST_GUESS = {'full': 200, 'incremental': 80}


class Kept(object):
    """A backup that completed: it must restore to sha until deleted."""

    def __init__(self, backup_id, sha, parent, depth):
        self.id = backup_id
        self.sha = sha
        self.parent = parent
        self.depth = depth


class CrashTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.Timeout(280, gentle=True))
        # Memory-backed when the machine has it: a SIGKILL leaves the
        # page cache intact, so fsync costs time here and proves nothing.
        shm = '/dev/shm' if os.path.isdir('/dev/shm') else None
        self.tmp = self.useFixture(fixtures.TempDir(rootdir=shm)).path
        self.repo = os.path.join(self.tmp, 'repository')
        self.host = host_client.HostProcess(
            self, os.path.join(self.tmp, 'host'), self.repo)
        self.rng = random.Random(SEED)
        self.volume = bytearray(self.rng.randbytes(VOLUME_SIZE))
        # A zero stretch, so zero extents are part of every backup.
        self.volume[32 * BLOCK:48 * BLOCK] = bytes(16 * BLOCK)
        self.volume_id = None
        self.kept = collections.OrderedDict()
        self.calls = dict(FIRST_GUESS)
        self.outcomes = collections.Counter()
        self.points = []
        self.restores = 0
        self.kinds = {}
        self.left_debris = []
        self.debris_parents = set()

    # --- the volume ---------------------------------------------------

    def change_volume(self, name):
        """Change a few blocks (sometimes to zeros); write the volume to a
        file of its own and return (path, sha256)."""
        for _ in range(self.rng.randint(1, 4)):
            block = self.rng.randrange(VOLUME_SIZE // BLOCK)
            content = (bytes(BLOCK) if self.rng.random() < 0.25
                       else self.rng.randbytes(BLOCK))
            self.volume[block * BLOCK:(block + 1) * BLOCK] = content
        path = os.path.join(self.tmp, '%s.img' % name)
        with open(path, 'wb') as f:
            f.write(self.volume)
        return path, checksums.sha256_bytes(self.volume)

    # --- steps ----------------------------------------------------------

    def backup_step(self, name, path, parent=None, parent_from=None,
                    crash_at=None):
        step = {'op': 'backup', 'name': name, 'volume': path,
                'volume_id': self.volume_id}
        if parent:
            step['parent_id'] = parent
        if parent_from:
            step['parent_id_from'] = parent_from
        if crash_at:
            step.update(crash_at=crash_at, stop_on_error=False)
        return step

    def restore_step(self, name, backup_id):
        return {'op': 'restore', 'name': name, 'backup_id': backup_id,
                'size': VOLUME_SIZE,
                'target': os.path.join(self.tmp, 'restored.img')}

    def delete_step(self, name, backup_id=None, backup_from=None,
                    crash_at=None):
        step = {'op': 'delete', 'name': name}
        if backup_id:
            step['backup_id'] = backup_id
        if backup_from:
            step['backup_id_from'] = backup_from
        if crash_at:
            step.update(crash_at=crash_at, stop_on_error=False)
        return step

    def leaves(self):
        # A backup left as debris keeps its record, and its parent can
        # then not be deleted (nor in Cinder's API): it is no leaf.
        parents = {k.parent for k in self.kept.values()} | \
            self.debris_parents
        return [k for k in self.kept.values() if k.id not in parents]

    def crash_point(self, kind):
        # The last measured backup of the same kind: the next one makes
        # about as many calls.
        guess = self.calls[kind]
        # A few points past the end: the operation then completes, and
        # must be as good as one never threatened.
        return self.rng.randint(1, guess + max(2, guess // 20))

    # --- one run --------------------------------------------------------

    def plan(self, pending, number):
        steps = []
        checks = {}
        if number >= CRASH_POINTS - KEPT_DEBRIS_RUNS:
            # Left for orphans: marked failed, as cinder-backup marks the
            # backups it finds half-made when it starts again.
            debris = [item for item in pending if not item['sha'] and
                      item['kind'] != 'delete']
            for item in debris:
                steps.append({'op': 'set_status', 'name': 'error-%s'
                              % item['id'], 'backup_id': item['id'],
                              'status': 'error'})
            self.left_debris.extend(item['id'] for item in debris)
            self.debris_parents.update(item.get('parent') for item in debris)
            pending = [item for item in pending if item not in debris]
        for item in pending:
            if item['sha']:
                # Killed after its manifest was written (a backup) or
                # before it was removed (a delete): it is complete and
                # must restore exactly.
                name = 'check-%s' % item['id']
                steps.append(self.restore_step(name, item['id']))
                checks[name] = item['sha']
            steps.append(self.delete_step('cleanup-%s' % item['id'],
                                          item['id']))
        for kept in self.kept.values():
            name = 'restore-%s' % kept.id
            steps.append(self.restore_step(name, kept.id))
            checks[name] = kept.sha
        leaves = self.leaves()
        if len(self.kept) >= MAX_KEPT and leaves:
            # An ordinary delete keeps the number of backups bounded.  In
            # the last runs every kept backup may be a parent, of a kept
            # one or of debris left for orphans: then none can go, and
            # one more is kept until the end.
            oldest = leaves[0]
            steps.append(self.delete_step('delete-%s' % oldest.id,
                                          oldest.id))
            del self.kept[oldest.id]
        path, sha = self.change_volume('next-%d' % number)
        newest = list(self.kept.values())[-1] if self.kept else None
        next_parent = (newest if newest and newest.depth < MAX_CHAIN - 1
                       and self.rng.random() < 0.7 else None)
        self.kinds['next'] = 'incremental' if next_parent else 'full'
        steps.append(self.backup_step(
            'next', path, parent=next_parent.id if next_parent else None))
        next_kept = Kept(None, sha, next_parent.id if next_parent else None,
                         next_parent.depth + 1 if next_parent else 0)
        crash = {}
        # The new backup's parent is no leaf any more.
        candidates = [k for k in self.leaves() if k is not next_parent]
        if candidates and self.rng.random() < 0.35:
            target = self.rng.choice(candidates)
            # A delete makes about one call per file and a few per
            # directory.
            files = len(repo_check.files(os.path.join(
                repo_check.backup_directories(self.repo)[target.id])))
            crash_at = self.rng.randint(1, files + 12)
            steps.append(self.delete_step('crash', target.id,
                                          crash_at=crash_at))
            crash.update(kind='delete', target=target, crash_at=crash_at)
        else:
            path, sha = self.change_volume('crash-%d' % number)
            incremental = next_kept.depth < MAX_CHAIN - 1 and \
                self.rng.random() < 0.6
            kind = 'incremental' if incremental else 'full'
            crash_at = self.crash_point(kind)
            steps.append(self.backup_step(
                'crash', path, parent_from='next' if incremental else None,
                crash_at=crash_at))
            self.kinds['crash'] = kind
            crash.update(kind=kind, sha=sha, crash_at=crash_at,
                         depth=next_kept.depth + 1 if incremental else 0)
        return steps, checks, next_kept, crash

    def check_steps(self, events, checks, crash_name='crash'):
        for event in events:
            if event.get('event') == 'volume':
                self.volume_id = event['volume_id']
        steps = host_client.steps_by_name(events)
        for name, step in steps.items():
            if name == crash_name:
                continue
            self.assertTrue(step['ok'], 'step %s failed: %s' % (
                name, step.get('traceback')))
            if name in checks:
                self.restores += 1
                self.assertEqual(checks[name], step['sha256'],
                                 'backup restored by %s differs' % name)
            if step['op'] == 'backup':
                self.calls[self.kinds[name]] = step['calls']
        return steps

    def check_repository(self, allowed_debris):
        failures = repo_check.manifest_failures(self.repo)
        self.assertEqual([], failures, 'manifests that do not validate')
        debris = set(repo_check.debris(self.repo))
        self.assertLessEqual(debris, set(allowed_debris),
                             'directories without a manifest that no '
                             'interrupted operation explains')
        complete = set(repo_check.complete_backups(self.repo))
        missing = set(self.kept) - complete
        self.assertEqual(set(), missing, 'kept backups lost their manifest')
        directories = repo_check.backup_directories(self.repo)
        for rel in repo_check.temp_files(self.repo):
            owner = [b for b, d in directories.items()
                     if os.path.join(self.repo, rel).startswith(d + os.sep)]
            self.assertTrue(owner and owner[0] in debris,
                            'temporary file %s outside debris' % rel)
        return debris, complete

    def record_crash(self, steps, run_end, crash, next_kept):
        step = steps.get('crash')
        killed = run_end['signal'] == 9
        self.points.append(crash['crash_at'])
        if killed:
            self.assertIsNone(step, 'a killed step reported an end')
        else:
            self.assertEqual(0, run_end['exit'], run_end)
            self.assertTrue(step['ok'], step and step.get('traceback'))
        created = [e for e in self.events if e.get('event') == 'created' and
                   e.get('step') == 'crash']
        if crash['kind'] == 'delete':
            target = crash['target']
            backup_id = target.id
            del self.kept[backup_id]
            if not killed:
                self.outcomes['delete completed'] += 1
                return []
            complete = backup_id in repo_check.complete_backups(self.repo)
            self.outcomes['delete killed, backup %s' % (
                'still complete' if complete else 'debris')] += 1
            return [{'id': backup_id, 'kind': 'delete',
                     'sha': target.sha if complete else None}]
        backup_id = created[0]['backup_id']
        if not killed:
            self.calls[crash['kind']] = step['calls']
            self.outcomes['backup completed'] += 1
            self.kept[backup_id] = Kept(backup_id, crash['sha'],
                                        next_kept.id if crash['depth']
                                        else None, crash['depth'])
            return []
        directory = repo_check.backup_directories(self.repo).get(backup_id)
        complete = backup_id in repo_check.complete_backups(self.repo)
        self.outcomes['backup killed, %s' % (
            'complete' if complete else 'debris' if directory
            else 'nothing written')] += 1
        return [{'id': backup_id, 'kind': 'backup',
                 'sha': crash['sha'] if complete else None,
                 'parent': next_kept.id if crash['depth'] else None}]

    def orphans(self):
        """Backup IDs the orphans command reports as debris."""
        config = os.path.join(self.tmp, 'host', 'cinder.conf')
        proc = cli.run_command(self, 'orphans', '--config-file', config,
                               '--format', 'json', '--older-than', '0s',
                               timeout=300)
        self.assertEqual(0, proc.returncode, proc.stderr[-3000:])
        findings = json.loads(proc.stdout)['findings']
        return sorted(f['backup'] for f in findings
                      if f['kind'] == 'debris')

    def test_sigkill_during_backup_and_delete(self):
        pending = []
        killed = 0
        for number in range(CRASH_POINTS):
            steps, checks, next_kept, crash = self.plan(pending, number)
            events, run_end = self.host.run(steps)
            self.events = events
            done = self.check_steps(events, checks)
            self.assertIn('next', done, 'the run stopped early: %r'
                          % run_end)
            for item in pending:
                if item['id'] in self.left_debris:
                    continue
                directory = repo_check.backup_directories(self.repo).get(
                    item['id'])
                self.assertIsNone(directory, 'deleting interrupted backup '
                                  '%s left %s' % (item['id'], directory))
            next_kept.id = done['next']['backup_id']
            self.kept[next_kept.id] = next_kept
            pending = self.record_crash(done, run_end, crash, next_kept)
            killed += run_end['signal'] == 9
            self.check_repository([item['id'] for item in pending] +
                                  self.left_debris)
        found = self.orphans()
        on_disk = set(repo_check.debris(self.repo))
        self.assertLessEqual(set(self.left_debris) & on_disk,
                             set(found), 'orphans missed debris')
        # It must have had something to find.
        self.assertNotEqual(set(), set(self.left_debris) & on_disk)
        # The last crash is cleaned up, everything restored once more,
        # then everything deleted: nothing may be left behind.
        steps = []
        for item in pending + [{'id': i} for i in self.left_debris]:
            steps.append(self.delete_step('cleanup-%s' % item['id'],
                                          item['id']))
        checks = {}
        for kept in self.kept.values():
            steps.append(self.restore_step('restore-%s' % kept.id, kept.id))
            checks['restore-%s' % kept.id] = kept.sha
        for kept in reversed(list(self.kept.values())):
            steps.append(self.delete_step('delete-%s' % kept.id, kept.id))
        events, run_end = self.host.run(steps)
        self.check_steps(events, checks, crash_name=None)
        self.assertEqual(0, run_end['exit'])
        self.assertEqual([], repo_check.files(self.repo))
        figures.report(
            self, 'crash', seed=SEED, crash_points=len(self.points),
            killed=killed, restores_verified=self.restores,
            debris_left_for_orphans=len(self.left_debris),
            debris_found_by_orphans=len(found),
            points=' '.join(map(str, self.points)),
            outcomes='; '.join('%s: %d' % item for item in
                               sorted(self.outcomes.items())),
            lost=0)
        self.assertGreaterEqual(killed, CRASH_POINTS * 2 // 3)
