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

"""Tempest's volume backup tests against a real Cinder using our driver.

TempestTests is mixed into a StackCase whose stack has Keystone (the
production-shaped stack of test_production_stack): tempest's
tempest.api.volume.test_volumes_backup and
tempest.api.volume.admin.test_volumes_backup run against it, by tempest
itself from the tool virtualenv.

Left out: VolumesBackupsAdminTest.test_volume_backup_export_import.  It
asserts that the exported backup_service starts with
``cinder.backup.drivers``, which no driver outside Cinder's tree can pass
whatever it does; test_backup_cli covers export and import instead.
Skipped by tempest itself: the tests that need a compute service
(test_backup_create_attached_volume, test_volume_backup_incremental) or an
image service (test_bootable_volume_backup_and_restore).
"""

import sys

from testtools import content

from tests.functional.stack import tempest_run
from tests.functional.stack import tool_venv

REGEX = r'^tempest\.api\.volume\.(admin\.)?test_volumes_backup\.'
EXCLUDE = 'test_volume_backup_export_import'
# These must pass; anything that fails fails this test.
MUST_PASS = (
    'test_volume_backup_create_get_detailed_list_restore_delete',
    'test_update_backup',
    'test_volume_backup_reset_status',
)


class TempestTests(object):
    """Mixed into a StackCase with Keystone in its stack."""

    def test_tempest_volume_backup_tests(self):
        bin_dir = tool_venv.ensure()
        stack = self.stack
        workspace = tempest_run.prepare(stack, bin_dir)
        result = tempest_run.run(bin_dir, workspace, REGEX, EXCLUDE)

        summary = 'tempest: %d passed, %d failed, %d skipped' % (
            len(result.passed), len(result.failed), len(result.skipped))
        report = '\n'.join([summary] +
                           ['passed: ' + t for t in result.passed] +
                           ['FAILED: ' + t for t in result.failed] +
                           ['skipped: ' + t for t in result.skipped])
        self.addDetail('tempest-results', content.text_content(report))
        # The counts show in the test run's output, pass or fail.
        sys.stderr.write('\n%s\n' % report)
        if result.failed or not result.passed:
            self.addDetail('tempest-output',
                           content.text_content(result.output[-20000:]))
            self.addDetail('cinder-logs',
                           content.text_content(stack.log_tails(
                               ['cinder-api'] +
                               stack.cinder.backup_service_names +
                               ['cinder-volume'])))
        self.assertEqual([], result.failed, report)
        for name in MUST_PASS:
            self.assertTrue(any(name in t for t in result.passed),
                            '%s did not pass:\n%s' % (name, report))
        self.assertFalse(any(EXCLUDE in t for t in
                             result.passed + result.skipped),
                         'the exclusion did not apply')
        # Only the tests that need a compute or image service may skip;
        # tempest tags them so in their IDs.
        for skipped in result.skipped:
            tags = skipped.split('[', 1)[-1].split(']', 1)[0].split(',')
            self.assertTrue({'compute', 'image'} & set(tags),
                            'unexpected skip: %s' % skipped)
