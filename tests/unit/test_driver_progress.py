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

"""Progress notifications report the share of the volume processed."""

from oslo_utils import units

from cinder.volume import volume_utils

from tests.unit import driver_base as base


class ProgressNotificationTest(base.DriverTestCase):

    def _percentages(self):
        calls = volume_utils.notify_about_backup_usage.call_args_list
        return [c.kwargs['extra_usage_info']['backup_percent']
                for c in calls if c.args[2] == 'createprogress']

    def test_percent_follows_bytes_backed_up(self):
        self.flags(backup_object_number_per_notification=2)
        data = base.random_bytes(10 * base.OBJECT_SIZE, seed=7)
        self.run_backup(data)
        percentages = self._percentages()
        # The volume record says 1 GiB: every second object of 64 KiB, then
        # the final 100%.
        expected = [100.0 * n * base.OBJECT_SIZE / units.Gi
                    for n in (2, 4, 6, 8, 10)] + [100]
        self.assertEqual(len(expected), len(percentages))
        for want, got in zip(expected, percentages):
            self.assertAlmostEqual(want, got)

    def test_timer_sends_even_between_object_counts(self):
        self.flags(backup_object_number_per_notification=1000,
                   backup_enable_progress_timer=True,
                   backup_timer_interval=0)
        self.run_backup(base.random_bytes(3 * base.OBJECT_SIZE, seed=8))
        percentages = self._percentages()
        self.assertEqual(4, len(percentages))
        self.assertEqual(sorted(percentages), percentages)
        self.assertEqual(100, percentages[-1])
