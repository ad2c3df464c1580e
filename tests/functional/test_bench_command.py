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

"""``cinder-backup-ext bench`` end to end, on a small volume.

Timings are printed, never asserted: this checks that the benchmark runs
both drivers, verifies their restores and reports every figure.
"""

import os
import re

import fixtures
import testtools
from testtools import content

from tests.functional import cli
from tests.functional.stack import ceph


class BenchCommandTestCase(testtools.TestCase):

    def test_both_drivers_on_every_phase(self):
        workdir = os.path.join(self.useFixture(fixtures.TempDir()).path,
                               'work')
        proc = cli.run_command(self, 'bench', '--size', '32', '--workdir',
                               workdir)
        self.assertEqual(0, proc.returncode, proc.stderr)
        rows = self.rows(proc.stdout)
        self.assertEqual(
            {(phase, driver) for phase in ('full', 'incremental', 'restore')
             for driver in ('cinder', 'ours', 'ours+aes')},
            {(row[0], row[1]) for row in rows}, proc.stdout)
        for row in rows:
            self.assertGreater(float(row[2]), 0)
            # Cinder is the baseline: only our rows carry a ratio.
            self.assertEqual(row[1] != 'cinder', bool(row[4]), row)

    def test_thin_rbd_image_on_a_real_ceph(self):
        tmp = self.useFixture(fixtures.TempDir()).path
        os.makedirs(os.path.join(tmp, 'logs'))
        cluster = self.useFixture(ceph.CephCluster(tmp,
                                                   os.path.join(tmp, 'logs')))
        proc = cli.run_command(self, 'bench', '--size', '32', '--repeat',
                               '1', '--rbd-conf', cluster.conf,
                               '--rbd-size', '1', '--workdir',
                               os.path.join(tmp, 'work'))
        self.addDetail('bench', content.text_content(
            proc.stdout + proc.stderr))
        self.assertEqual(0, proc.returncode, proc.stderr)
        self.assertIn('thin RBD image of 1.0 GiB', proc.stdout)
        rows = self.rows(proc.stdout)
        self.assertEqual(
            {(phase, driver) for phase in ('full', 'incremental', 'restore')
             for driver in ('cinder', 'ours', 'ours+aes')},
            {(row[0], row[1]) for row in rows}, proc.stdout)
        # Every image the benchmark made is gone.
        self.assertEqual('', cluster.rbd('ls').strip())

    def test_thin_volume_file_with_the_machine_limits(self):
        workdir = os.path.join(self.useFixture(fixtures.TempDir()).path,
                               'work')
        proc = cli.run_command(self, 'bench', '--size', '32', '--thin', '1',
                               '--repeat', '1', '--workdir', workdir)
        self.addDetail('bench', content.text_content(
            proc.stdout + proc.stderr))
        self.assertEqual(0, proc.returncode, proc.stderr)
        self.assertIn('sparse file of 1.0 GiB', proc.stdout)
        rows = self.rows(proc.stdout)
        self.assertEqual(
            {(phase, driver) for phase in ('full', 'incremental', 'restore',
                                           'restore-existing')
             for driver in ('cinder', 'ours', 'ours+aes')},
            {(row[0], row[1]) for row in rows}, proc.stdout)
        for limit in ('read of the volume', 'write+fsync of',
                      'zstd on %d cores' % os.cpu_count()):
            self.assertRegex(proc.stdout, r'%s.*\d MiB/s' % re.escape(limit))
        self.assertRegex(proc.stdout, r'restore-existing .* MiB/s written: '
                                      r' *\d+% of write\+fsync')

    @staticmethod
    def rows(output):
        return re.findall(
            r'^(full|incremental|restore-existing|restore)\s+'
            r'(cinder|ours\+aes|ours)\s+'
            r'([\d.]+)\s+([\d.]+)\s+(?:([\d.]+)x\s+)?([\d.]+)\s+'
            r'([\d.]+ [KMG]iB)', output, re.MULTILINE)

    def test_bad_option_is_a_clear_error(self):
        proc = cli.run_command(self, 'bench', '--size', '8', '--only',
                               'ours', '--set', 'backup_object_size=12345')
        self.assertEqual(1, proc.returncode)
        self.assertIn('backup_object_size', proc.stderr)
        self.assertNotIn('Traceback', proc.stderr)
