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

from tests.functional import cli


class BenchCommandTestCase(testtools.TestCase):

    def test_both_drivers_on_every_phase(self):
        workdir = os.path.join(self.useFixture(fixtures.TempDir()).path,
                               'work')
        proc = cli.run_command(self, 'bench', '--size', '32', '--workdir',
                               workdir)
        self.assertEqual(0, proc.returncode, proc.stderr)
        rows = re.findall(
            r'^(full|incremental|restore)\s+(cinder|ours)\s+([\d.]+)\s+'
            r'([\d.]+)\s+(?:([\d.]+)x\s+)?([\d.]+)\s+([\d.]+ [KMG]iB)',
            proc.stdout, re.MULTILINE)
        self.assertEqual(
            {(phase, driver) for phase in ('full', 'incremental', 'restore')
             for driver in ('cinder', 'ours')},
            {(row[0], row[1]) for row in rows}, proc.stdout)
        for row in rows:
            self.assertGreater(float(row[2]), 0)
            # Cinder is the baseline: only our rows carry a ratio.
            self.assertEqual(row[1] == 'ours', bool(row[4]), row)

    def test_bad_option_is_a_clear_error(self):
        proc = cli.run_command(self, 'bench', '--size', '8', '--only',
                               'ours', '--set', 'backup_object_size=12345')
        self.assertEqual(1, proc.returncode)
        self.assertIn('backup_object_size', proc.stderr)
        self.assertNotIn('Traceback', proc.stderr)
