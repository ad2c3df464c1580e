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

"""Several backups, restores and deletes at once on one repository.

From green threads of one cinder-backup host (as the service runs
concurrent requests), from two host processes sharing the repository (two
backup hosts on one share), and from processes racing to create and remove
the same container and fan-out directories.  Nothing may interfere:
every restore is exact, every backup that completed stays complete, and
deleting everything leaves an empty repository.
"""

import json
import os
import subprocess
import sys

import fixtures
import testtools

from tests import checksums
from tests.functional.reliability import figures
from tests.functional.reliability import host_client
from tests.functional.reliability import repo_check
from tests.unit import driver_base as base

OBJ = base.OBJECT_SIZE
SEED = 20261123


def _shm_dir(test):
    shm = '/dev/shm' if os.path.isdir('/dev/shm') else None
    return test.useFixture(fixtures.TempDir(rootdir=shm)).path


class DirectoryRaceTest(testtools.TestCase):
    """PosixStore.make_directories against delete_container elsewhere."""

    PROCESSES = 3
    ROUNDS = 2000

    def test_processes_create_and_remove_the_same_fan_out(self):
        root = _shm_dir(self)
        procs = [subprocess.Popen(
            [sys.executable, '-m', 'tests.functional.reliability.dir_race',
             root, 'p%d' % number, str(self.ROUNDS)],
            cwd=host_client.TOP, env=host_client.host_environment(),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for number in range(self.PROCESSES)]
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=240)
            self.assertEqual(0, proc.returncode, err.decode()[-3000:])
            results.append(json.loads(out.decode().strip().splitlines()[-1]))
        errors = [error for result in results for error in result['errors']]
        self.assertEqual([], errors[:5], '%d operations failed'
                         % len(errors))
        written = sum(result['written'] for result in results)
        self.assertEqual(2 * self.PROCESSES * self.ROUNDS, written)
        self.assertEqual([], os.listdir(root))
        figures.report(self, 'directory race', processes=self.PROCESSES,
                       rounds_each=self.ROUNDS, objects_written=written,
                       errors=len(errors), lost=0)


class TwoHostsTest(testtools.TestCase):
    """Two cinder-backup processes, each with its own database, back up,
    restore and delete on one repository at the same time."""

    ROUNDS = 3
    VOLUMES = 2

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.Timeout(240, gentle=True))
        self.tmp = _shm_dir(self)
        self.repo = os.path.join(self.tmp, 'repository')
        self.hosts = [host_client.HostProcess(
            self, os.path.join(self.tmp, 'host-%d' % n), self.repo)
            for n in range(2)]

    def volume(self, host, volume, round_):
        data = base.random_bytes(16 * 65536, hash((SEED, host, volume,
                                                   round_)) & 0xffffffff)
        path = os.path.join(self.tmp, 'vol-%d-%d-%d.img' % (host, volume,
                                                            round_))
        with open(path, 'wb') as f:
            f.write(data)
        return path, checksums.sha256_bytes(data)

    def test_two_hosts_on_one_share(self):
        kept = [dict() for _ in self.hosts]     # name -> (id, sha)
        operations = 0
        restores = 0
        for round_ in range(self.ROUNDS):
            plans = []
            for number, host in enumerate(self.hosts):
                steps = []
                checks = {}
                for name, (backup_id, sha) in kept[number].items():
                    steps.append({'op': 'restore', 'name': 'r-' + name,
                                  'backup_id': backup_id,
                                  'size': 16 * 65536,
                                  'target': os.path.join(
                                      self.tmp, 'restored-%d.img'
                                      % number)})
                    checks['r-' + name] = sha
                expected = {}
                for volume in range(self.VOLUMES):
                    path, sha = self.volume(number, volume, round_)
                    name = 'b%d-%d' % (volume, round_)
                    step = {'op': 'backup', 'name': name, 'volume': path}
                    previous = 'b%d-%d' % (volume, round_ - 1)
                    if round_ % 2:
                        step['parent_id'] = kept[number][previous][0]
                    steps.append(step)
                    expected[name] = sha
                # Each even round starts new chains and deletes the
                # previous ones, incremental first, so that deletes run
                # alongside the other host's backups.
                if round_ and round_ % 2 == 0:
                    for name in reversed(list(kept[number])):
                        steps.append({'op': 'delete', 'name': 'd-' + name,
                                      'backup_id': kept[number][name][0]})
                host.send(steps)
                plans.append((steps, checks, expected))
            for number, host in enumerate(self.hosts):
                steps, checks, expected = plans[number]
                events, run_end = host.collect()
                done = host_client.steps_by_name(events)
                self.assertEqual(0, run_end['exit'], [
                    e.get('traceback') for e in done.values()
                    if not e['ok']])
                operations += len(done)
                for name, sha in checks.items():
                    self.assertEqual(sha, done[name]['sha256'], name)
                    restores += 1
                for name, sha in expected.items():
                    kept[number][name] = (done[name]['backup_id'], sha)
                for name in list(kept[number]):
                    if 'd-' + name in done:
                        del kept[number][name]
            self.assertEqual([], repo_check.manifest_failures(self.repo))
            self.assertEqual([], repo_check.debris(self.repo))
            self.assertEqual(
                sorted(i for k in kept for i, _sha in k.values()),
                repo_check.complete_backups(self.repo))
        # Everything restores once more, then everything goes: newest
        # first, as Cinder only deletes backups without dependents.
        for number, host in enumerate(self.hosts):
            steps = []
            for name, (backup_id, sha) in kept[number].items():
                steps.append({'op': 'restore', 'name': 'r-' + name,
                              'backup_id': backup_id, 'size': 16 * 65536,
                              'target': os.path.join(
                                  self.tmp, 'restored-%d.img' % number)})
            for name, (backup_id, sha) in reversed(
                    list(kept[number].items())):
                steps.append({'op': 'delete', 'name': 'd-' + name,
                              'backup_id': backup_id})
            host.send(steps)
        for number, host in enumerate(self.hosts):
            events, run_end = host.collect()
            done = host_client.steps_by_name(events)
            self.assertEqual(0, run_end['exit'])
            for name, (_id, sha) in kept[number].items():
                self.assertEqual(sha, done['r-' + name]['sha256'])
                restores += 1
            operations += len(done)
        self.assertEqual([], repo_check.files(self.repo))
        figures.report(self, 'two hosts', hosts=len(self.hosts),
                       operations=operations, restores_verified=restores,
                       lost=0)


class ThreadsTest(testtools.TestCase):
    """One host serves many requests at once in green threads, as
    cinder-backup does; their pipelines overlap on native threads."""

    VOLUMES = 4

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.Timeout(240, gentle=True))
        self.tmp = _shm_dir(self)
        self.repo = os.path.join(self.tmp, 'repository')
        self.host = host_client.HostProcess(
            self, os.path.join(self.tmp, 'host'), self.repo)
        self.expected = {}

    def volume(self, name, seed, size=8 * 65536):
        data = base.random_bytes(size, seed)
        path = os.path.join(self.tmp, name + '.img')
        with open(path, 'wb') as f:
            f.write(data)
        self.expected[name] = (checksums.sha256_bytes(data), size)
        return path

    def backup(self, name, seed, parent=None):
        step = {'op': 'backup', 'name': name,
                'volume': self.volume(name, seed)}
        if parent:
            step['parent_id_from'] = parent
        return step

    def restore(self, name):
        return {'op': 'restore', 'name': 'r-' + name,
                'backup_id_from': name, 'size': self.expected[name][1],
                'target': os.path.join(self.tmp, 'restored-%s.img' % name)}

    @staticmethod
    def delete(name):
        return {'op': 'delete', 'name': 'd-' + name, 'backup_id_from': name}

    @staticmethod
    def parallel(name, steps):
        return {'op': 'parallel', 'name': name, 'steps': steps}

    def test_parallel_backups_restores_and_deletes(self):
        n = range(self.VOLUMES)
        waves = [
            [self.backup('f%d' % i, SEED + i) for i in n],
            [self.backup('i%d' % i, SEED + 10 + i, parent='f%d' % i)
             for i in n] +
            [self.restore('f%d' % i) for i in n] +
            [self.delete('s0'), self.delete('s1')],
            [self.restore('i%d' % i) for i in n] +
            [self.backup('g%d' % i, SEED + 20 + i) for i in range(2)] +
            [self.delete('s2'), self.delete('s3')],
        ]
        steps = [self.backup('s%d' % i, SEED + 30 + i) for i in range(4)]
        steps[2:2] = [self.parallel('wave0', waves[0]),
                      self.parallel('wave1', waves[1])]
        steps.append(self.parallel('wave2', waves[2]))
        events, run_end = self.host.run(steps)
        done = host_client.steps_by_name(events)
        self.assertEqual(0, run_end['exit'], [
            e.get('traceback') for e in done.values() if not e['ok']])
        restores = 0
        for name, (sha, _size) in self.expected.items():
            if 'r-' + name in done:
                self.assertEqual(sha, done['r-' + name]['sha256'], name)
                restores += 1
        kept = sorted(done[name]['backup_id'] for name in done
                      if name[0] in 'fig' and done[name]['op'] == 'backup')
        self.assertEqual(kept, repo_check.complete_backups(self.repo))
        self.assertEqual([], repo_check.debris(self.repo))
        self.assertEqual([], repo_check.temp_files(self.repo))
        # The survivors still restore, and deleting them all at once
        # (children first) empties the repository.
        survivors = [name for name in done
                     if name[0] in 'fig' and done[name]['op'] == 'backup']
        made = {name: done[name]['backup_id'] for name in survivors}
        final = [self.parallel('check', [
            dict(self.restore(name), backup_id=made[name],
                 backup_id_from=None) for name in survivors])]
        final.append(self.parallel('delete-children', [
            {'op': 'delete', 'name': 'd-' + name, 'backup_id': made[name]}
            for name in survivors if name[0] != 'f']))
        final.append(self.parallel('delete-parents', [
            {'op': 'delete', 'name': 'd-' + name, 'backup_id': made[name]}
            for name in survivors if name[0] == 'f']))
        for step in final[0]['steps']:
            del step['backup_id_from']
        events, run_end = self.host.run(final)
        done_final = host_client.steps_by_name(events)
        self.assertEqual(0, run_end['exit'], [
            e.get('traceback') for e in done_final.values() if not e['ok']])
        for name in survivors:
            self.assertEqual(self.expected[name][0],
                             done_final['r-' + name]['sha256'])
            restores += 1
        self.assertEqual([], repo_check.files(self.repo))
        concurrent = sum(len(step['steps']) for step in steps + final
                         if step['op'] == 'parallel')
        figures.report(self, 'threads', concurrent_operations=concurrent,
                       largest_wave=max(len(w) for w in waves),
                       restores_verified=restores, lost=0)
