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

"""`cinder-backup-ext adopt` on backups made by Cinder's own POSIX driver:
before adoption Cinder's manager refuses to restore them with this
library's driver; --dry-run changes nothing; adoption skips a damaged
backup and rewrites the others, which then restore byte for byte and
delete through this library's driver.
"""

import glob
import os

import fixtures
import testtools

from tests.functional import tools_fixture
from tests.functional import test_tools_verify

MiB = 1024 * 1024


class AdoptTestCase(testtools.TestCase):

    def test_adopt_then_restore_and_delete_with_our_driver(self):
        workdir = self.useFixture(fixtures.TempDir()).path
        cinder_env = tools_fixture.ToolsEnvironment(
            self, workdir, driver=tools_fixture.CINDER_DRIVER)
        volume = os.path.join(workdir, 'volume.img')
        tools_fixture.write_volume(volume, 4 * MiB, seed=3)
        made = cinder_env.backup(volume, count=2)
        full, damaged = made['backups']
        with open(volume, 'r+b') as f:
            f.seek(3 * MiB)
            f.write(os.urandom(200 * 1024))
        incremental = cinder_env.backup(volume, parent=full,
                                        volume=made['volume'])['backup']
        os.unlink(test_tools_verify.legacy_objects(cinder_env, damaged)[0])

        # The operator switches backup_driver to this library.
        env = tools_fixture.ToolsEnvironment(self, workdir)
        target = os.path.join(workdir, 'restored.img')
        with open(target, 'wb') as f:
            f.truncate(4 * MiB)
        refused = env.start_child('restore', '--backup', incremental,
                                  '--target', target)
        _out, err = refused.communicate(timeout=300)
        self.assertNotEqual(0, refused.returncode)
        self.assertIn(b'was made by %s' % tools_fixture.CINDER_DRIVER.encode(),
                      err)

        result = env.tool_json('adopt', '--dry-run', expect=1)
        actions = {r['backup']: r for r in result['backups']}
        self.assertEqual({full, damaged, incremental}, set(actions))
        for backup_id in (full, incremental):
            self.assertEqual('would adopt (dry run)',
                             actions[backup_id]['action'])
        self.assertEqual('not adopted: the check failed',
                         actions[damaged]['action'])
        self.assertEqual('object is missing',
                         actions[damaged]['problems'][0]['reason'])
        self.assertEqual(tools_fixture.CINDER_DRIVER,
                         env.child('show', '--backup', full)[full]['service'])

        proc = env.tool('adopt', '--deep')
        self.assertEqual(1, proc.returncode, proc.stderr)
        self.assertIn('3 candidates, 2 adopted, 1 failed', proc.stdout)
        shown = env.child('show', '--backup', full, '--backup', incremental,
                          '--backup', damaged)
        self.assertEqual(tools_fixture.OUR_DRIVER, shown[full]['service'])
        self.assertEqual(tools_fixture.OUR_DRIVER,
                         shown[incremental]['service'])
        self.assertEqual(tools_fixture.CINDER_DRIVER,
                         shown[damaged]['service'])

        env.child('restore', '--backup', incremental, '--target', target)
        with open(volume, 'rb') as a, open(target, 'rb') as b:
            self.assertTrue(a.read() == b.read(), 'restored data differs')
        directories = [os.path.join(env.repository, backup_id[0:2],
                                    backup_id[2:4], backup_id)
                       for backup_id in (incremental, full)]
        for directory in directories:
            self.assertTrue(glob.glob(os.path.join(directory, '*')))
        env.child('delete', '--backup', incremental, '--backup', full)
        for directory in directories:
            self.assertFalse(os.path.exists(directory))
        # Nothing left to adopt but the damaged backup.
        result = env.tool_json('adopt', expect=1)
        self.assertEqual([damaged], [r['backup'] for r in result['backups']])
