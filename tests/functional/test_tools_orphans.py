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

"""`cinder-backup-ext orphans` on repositories the driver made: debris of
a backup killed with SIGKILL is found and, once old enough and no longer
in the database as in progress, deleted; a backup being written is left
alone; a complete backup unknown to the database gets an import record
that really imports it; temporary files of a killed writer go; and the
command refuses to run while another host holds the lock.
"""

import base64
import glob
import json
import os
import signal
import subprocess
import sys
import time

import fixtures
import testtools

from tests.functional import tools_fixture

MiB = 1024 * 1024
WAIT = 120


def wait_for(predicate, what, proc=None):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError('child exited (%s) before %s: %s' % (
                proc.returncode, what, proc.stderr.read()[-2000:]))
        time.sleep(0.1)
    raise AssertionError('timed out waiting for ' + what)


def backup_directories(env):
    return set(glob.glob(os.path.join(env.repository, 'backups', '*', '*',
                                      '*')))


class OrphansTestCase(testtools.TestCase):

    def setUp(self):
        super().setUp()
        workdir = self.useFixture(fixtures.TempDir()).path
        self.env = tools_fixture.ToolsEnvironment(self, workdir)
        self.volume = os.path.join(workdir, 'volume.img')
        with open(self.volume, 'wb') as f:
            f.write(os.urandom(16 * MiB))

    def orphans(self, *args, expect=0):
        result = self.env.tool_json('orphans', *args, expect=expect)
        return {f['path']: f for f in result['findings']}

    def start_hanging_backup(self, name):
        """A backup stopped half-way through reading its volume, with
        objects on the share and no manifest."""
        before = backup_directories(self.env)
        marker = os.path.join(self.env.workdir, name)
        proc = self.env.start_child('hang', '--volume', self.volume,
                                    '--hang-at', str(8 * MiB),
                                    '--marker', marker)
        self.addCleanup(self._stop, proc)
        wait_for(lambda: os.path.exists(marker), 'the backup to hang', proc)
        wait_for(lambda: backup_directories(self.env) - before and glob.glob(
            os.path.join(*(list(backup_directories(self.env) - before) +
                           ['data', '*', '*']))), 'its first objects', proc)
        [directory] = backup_directories(self.env) - before
        return proc, directory

    @staticmethod
    def _stop(proc):
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
        proc.stderr.close()

    def relative(self, path):
        return os.path.relpath(path, self.env.repository)

    def test_killed_backup_is_debris_a_running_backup_is_left_alone(self):
        complete = self.env.backup(self.volume)['backup']
        killed, killed_dir = self.start_hanging_backup('killed')
        killed.send_signal(signal.SIGKILL)
        killed.wait(30)
        running, running_dir = self.start_hanging_backup('running')
        killed_id = os.path.basename(killed_dir)
        self.assertFalse(os.path.exists(os.path.join(killed_dir,
                                                     'manifest.json')))

        # Both records still say creating: neither is touched, whatever
        # their age.
        findings = self.orphans('--delete', '--older-than', '0')
        for directory in (killed_dir, running_dir):
            finding = findings[self.relative(directory)]
            self.assertEqual('in-use', finding['kind'])
            self.assertEqual('reported', finding['action'])
            self.assertTrue(os.path.isdir(directory))
        self.assertNotIn(complete, json.dumps(findings))

        # A restarted cinder-backup marks the killed backup as failed.
        self.env.child('status', '--backup', killed_id, '--status', 'error')
        findings = self.orphans('--delete')
        finding = findings[self.relative(killed_dir)]
        self.assertEqual('debris', finding['kind'])
        self.assertEqual('kept: younger than --older-than',
                         finding['action'])
        self.assertTrue(os.path.isdir(killed_dir))
        findings = self.orphans('--older-than', '0')
        self.assertEqual('would delete (dry run)',
                         findings[self.relative(killed_dir)]['action'])
        self.assertTrue(os.path.isdir(killed_dir))

        findings = self.orphans('--delete', '--older-than', '0s')
        self.assertEqual('deleted',
                         findings[self.relative(killed_dir)]['action'])
        self.assertFalse(os.path.exists(killed_dir))
        self.assertEqual('in-use',
                         findings[self.relative(running_dir)]['kind'])
        self.assertTrue(glob.glob(os.path.join(running_dir, 'data', '*',
                                               '*')))
        self.assertIsNone(running.poll(), 'the running backup died')
        result = self.env.tool_json('verify', '--deep', complete)
        self.assertTrue(result['ok'])

    def test_unknown_complete_backup_gets_a_working_import_record(self):
        lost = self.env.backup(self.volume)['backup']
        self.env.child('forget', '--backup', lost)
        [lost_dir] = backup_directories(self.env)
        # A writer killed mid-object leaves its temporary file.
        subprocess.run(
            [sys.executable, '-c',
             'import os, signal\n'
             'from cinder_backup_ext.storage import posix\n'
             'w = posix.PosixStore(%r).get_object_writer("backups", "x")\n'
             'w.__enter__(); w.write(b"partial")\n'
             'os.kill(os.getpid(), signal.SIGKILL)\n'
             % self.env.repository], check=False, timeout=60)
        [temp] = glob.glob(os.path.join(self.env.repository, 'backups',
                                        '.x.tmp-*'))

        # Another host collecting: this one must not start.
        from tooz import coordination
        coordinator = coordination.get_coordinator(
            'file://%s' % os.path.join(self.env.workdir, 'coordination'),
            b'other-host')
        coordinator.start()
        lock = coordinator.get_lock(b'cinder-cinder-backup-ext-orphans')
        self.assertTrue(lock.acquire(blocking=False))
        try:
            proc = self.env.tool('orphans', '--delete', '--older-than', '0')
            self.assertEqual(3, proc.returncode, proc.stderr)
            self.assertIn('another host holds the orphans lock', proc.stderr)
            self.assertTrue(os.path.exists(temp))
        finally:
            lock.release()
            coordinator.stop()

        findings = self.orphans('--delete', '--older-than', '0')
        self.assertEqual('deleted', findings[self.relative(temp)]['action'])
        self.assertFalse(os.path.exists(temp))
        finding = findings[self.relative(lost_dir)]
        self.assertEqual('unknown', finding['kind'])
        self.assertEqual('reported', finding['action'])
        self.assertTrue(os.path.isdir(lost_dir))
        record = json.loads(base64.b64decode(finding['import']['backup_url']))
        self.assertEqual(lost, record['id'])
        self.assertEqual('backups', record['container'])
        self.assertEqual('cinder_backup_ext:2', record['service_metadata'])
        # What the driver's export_record gives: import_record needs the
        # location before Cinder's manager copies the record's fields in.
        self.assertEqual({'repository_format': 2, 'container': 'backups',
                          'service_metadata': 'cinder_backup_ext:2'},
                         record['driver_info'])
        self.assertTrue(finding['import']['command'].startswith(
            'cinder backup-import %s ' % tools_fixture.OUR_DRIVER))

        # The record brings the backup back, and it restores.
        self.env.child('import', '--record', finding['import']['backup_url'])
        target = os.path.join(self.env.workdir, 'restored.img')
        with open(target, 'wb') as f:
            f.truncate(16 * MiB)
        self.env.child('restore', '--backup', lost, '--target', target)
        with open(self.volume, 'rb') as a, open(target, 'rb') as b:
            self.assertTrue(a.read() == b.read(), 'restored data differs')
        self.assertEqual({}, self.orphans('--older-than', '0'))

    def test_a_manifest_over_missing_objects_is_never_offered_for_import(self):
        # What a delete racing the writer could leave: a valid manifest,
        # unknown to the database, whose objects are gone.
        lost = self.env.backup(self.volume)['backup']
        self.env.child('forget', '--backup', lost)
        [lost_dir] = backup_directories(self.env)
        objects = sorted(glob.glob(os.path.join(lost_dir, 'data', '*', '*')))
        os.unlink(objects[1])

        findings = self.orphans('--older-than', '0')
        finding = findings[self.relative(lost_dir)]
        self.assertEqual('debris', finding['kind'])
        self.assertNotIn('import', finding)
        self.assertIn('1 objects its manifest needs are missing (%s)'
                      % self.relative(objects[1]), finding['reason'])
        self.assertEqual('would delete (dry run)', finding['action'])

    def test_an_incremental_whose_parent_objects_are_gone_is_not_offered(
            self):
        made = self.env.backup(self.volume)
        full = made['backup']
        with open(self.volume, 'r+b') as f:
            f.write(os.urandom(MiB))
        child = self.env.backup(self.volume, parent=full,
                                volume=made['volume'])['backup']
        self.env.child('forget', '--backup', child)
        self.env.child('forget', '--backup', full)
        directories = {os.path.basename(d): d
                       for d in backup_directories(self.env)}
        parent_objects = sorted(glob.glob(os.path.join(
            directories[full], 'data', '*', '*')))
        os.unlink(parent_objects[-1])

        findings = self.orphans('--older-than', '0')
        finding = findings[self.relative(directories[child])]
        self.assertEqual('unknown', finding['kind'])
        self.assertNotIn('import', finding)
        self.assertIn('of its ancestor %s is missing' % full,
                      finding['reason'])
        self.assertEqual('debris',
                         findings[self.relative(directories[full])]['kind'])
