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

"""The ``cinder-backup-ext demo`` command end to end, in a child process.

It runs as a user runs it: it monkey patches eventlet and sets up Cinder's
global configuration and database, which must not leak into the test
process.
"""

import os

import fixtures
import testtools

from cinder_backup_ext.devtools import demo
from cinder_backup_ext.devtools import volumes
from tests.functional import cli

MiB = 1024 * 1024
CINDER_POSIX = 'cinder.backup.drivers.posix.PosixBackupDriver'
CORRUPTING_DRIVER = __name__ + '.CorruptingPosixBackupDriver'
# Far into the random quarter, so the flipped byte is never one that a
# zero-skipping restore could leave untouched by chance.
CORRUPT_OFFSET = 3 * MiB + 12345


def _corrupting_driver_class():
    from cinder.backup.drivers import posix

    class CorruptingPosixBackupDriver(posix.PosixBackupDriver):
        """Cinder's POSIX driver with a restore that damages one byte."""

        def restore(self, backup, volume_id, volume_file, volume_is_new):
            super().restore(backup, volume_id, volume_file, volume_is_new)
            volume_file.seek(CORRUPT_OFFSET)
            byte = volume_file.read(1)
            volume_file.seek(CORRUPT_OFFSET)
            volume_file.write(bytes([byte[0] ^ 0xFF]))
            volume_file.flush()

    return CorruptingPosixBackupDriver


def __getattr__(name):
    # Built on first use only: importing Cinder's driver here at import
    # time would load oslo.context before the unit tests' eventlet monkey
    # patching.  The demo loads the class by path in its child process.
    if name == 'CorruptingPosixBackupDriver':
        return _corrupting_driver_class()
    raise AttributeError(name)


class DemoCommandTestCase(testtools.TestCase):
    """The demo end to end, in a child process, on a 64 MiB volume."""

    SIZE_MIB = 64

    def run_demo(self, *extra):
        workdir = os.path.join(self.useFixture(fixtures.TempDir()).path,
                               'work')
        proc = cli.run_command(self, 'demo', '--size', str(self.SIZE_MIB),
                               '--workdir', workdir, *extra)
        return proc, workdir

    def assert_verified(self, proc, workdir):
        self.assertEqual(0, proc.returncode, proc.stderr)
        self.assertIn('verification OK', proc.stdout)
        for phase in ('full backup', 'incremental backup',
                      'restore incremental', 'verify'):
            self.assertIn(phase, proc.stdout)
        self.assertIn('MiB/s', proc.stdout)
        # The demo compared real files: both are there, with the volume's
        # size, and identical.
        volume = os.path.join(workdir, 'volume.img')
        restored = os.path.join(workdir, 'restored.img')
        self.assertEqual(self.SIZE_MIB * MiB, os.path.getsize(restored))
        self.assertIsNone(volumes.compare_files(volume, restored))

    def test_demo_with_cinder_posix_driver(self):
        proc, workdir = self.run_demo('--driver', CINDER_POSIX)
        self.assert_verified(proc, workdir)

    def test_demo_with_project_posix_driver(self):
        proc, workdir = self.run_demo()
        self.assert_verified(proc, workdir)

    def test_demo_without_eventlet(self):
        proc, workdir = self.run_demo('--no-eventlet')
        self.assert_verified(proc, workdir)
        self.assertIn('threads      native', proc.stdout)

    def test_corrupted_restore_fails_the_demo(self):
        proc, workdir = self.run_demo('--driver', CORRUPTING_DRIVER)
        self.assertEqual(demo.EXIT_FAILED, proc.returncode, proc.stdout)
        self.assertIn('VERIFICATION FAILED', proc.stderr)
        self.assertIn('offset %d' % CORRUPT_OFFSET, proc.stderr)
        self.assertNotIn('verification OK', proc.stdout)

    def test_unknown_driver_is_a_clear_error(self):
        proc, _workdir = self.run_demo('--driver', 'no.such.Driver')
        self.assertEqual(demo.EXIT_USAGE, proc.returncode)
        self.assertIn('cannot load driver no.such.Driver', proc.stderr)
