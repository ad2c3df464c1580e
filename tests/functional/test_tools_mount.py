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

"""`cinder-backup-ext mount`: file-level restore from an encrypted backup.

An ext4 file system image is made with mkfs.ext4 and filled with debugfs,
backed up encrypted, changed and backed up incrementally.  The incremental
is FUSE-mounted as one image file, loop-mounted read-only, and its files
are compared with the originals; SIGTERM then unmounts cleanly.  A flipped
byte in a stored object makes reads fail with EIO instead of returning
wrong data.

The keys come from tests/functional/file_key_manager.py: castellan's
in-memory key manager keeps keys inside one process, and the backups are
made by one child process and mounted by another, as cinder-backup and
the operator's command would be.
"""

import errno
import os
import random
import shutil
import signal
import subprocess
import time

import fixtures
import testtools

from tests.functional import test_tools_verify
from tests.functional import tools_fixture

MiB = 1024 * 1024
IMAGE_SIZE = 24 * MiB


def _missing_prerequisite():
    if os.geteuid() != 0:
        return 'needs root for the loop mount'
    if not os.path.exists('/dev/fuse'):
        return 'needs /dev/fuse'
    for tool in ('mkfs.ext4', 'debugfs', 'mount', 'umount'):
        if shutil.which(tool) is None:
            return 'needs %s (tools/test-setup.d/tools.sh)' % tool
    try:
        import mfusepy  # noqa: F401
    except (ImportError, OSError) as error:
        return 'needs mfusepy and libfuse3: %s' % error
    return None


def run(*command):
    subprocess.run(command, check=True, stdin=subprocess.DEVNULL,
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                   timeout=120)


def debugfs_write(image, source, name):
    run('debugfs', '-w', '-R', 'write %s %s' % (source, name), image)


class MountTestCase(testtools.TestCase):

    def setUp(self):
        super().setUp()
        reason = _missing_prerequisite()
        if reason:
            self.skipTest(reason)
        self.workdir = self.useFixture(fixtures.TempDir()).path
        self.env = tools_fixture.ToolsEnvironment(self, self.workdir,
                                                  encrypted=True)

    def path(self, *parts):
        return os.path.join(self.workdir, *parts)

    def make_files(self):
        rng = random.Random(11)
        os.makedirs(self.path('src'))
        files = {
            'random.bin': rng.randbytes(700 * 1024),
            'notes.txt': b''.join(b'line %d of the notes\n' % n
                                  for n in range(30000)),
            'later.bin': rng.randbytes(300 * 1024),
        }
        for name, data in files.items():
            with open(self.path('src', name), 'wb') as f:
                f.write(data)
        return files

    def mount(self, backup_id, mountpoint):
        os.makedirs(mountpoint, exist_ok=True)
        log = open(self.path('mount-%s.log' % backup_id[:8]), 'w+')
        self.addCleanup(log.close)
        command = ['mount', '--config-file', self.env.config, backup_id,
                   mountpoint]
        proc = subprocess.Popen(
            [os.sys.executable, '-m', 'cinder_backup_ext.cmd.main'] +
            command, cwd=tools_fixture.cli.REPO_ROOT,
            env=tools_fixture.cli_env(), stdin=subprocess.DEVNULL,
            stdout=log, stderr=log)
        self.addCleanup(self._unmount, proc, mountpoint)
        image = os.path.join(mountpoint, '%s.img' % backup_id)
        deadline = time.monotonic() + 120
        while not os.path.exists(image):
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                self.fail('mount did not come up: %s' % log.read())
            time.sleep(0.1)
        return proc, image, log

    @staticmethod
    def _unmount(proc, mountpoint):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(30)
        if os.path.ismount(mountpoint):
            subprocess.run(['umount', '-l', mountpoint], check=False)

    def test_files_from_an_encrypted_incremental_backup(self):
        files = self.make_files()
        fs_image = self.path('fs.img')
        with open(fs_image, 'wb') as f:
            f.truncate(IMAGE_SIZE)
        run('mkfs.ext4', '-q', '-F', '-b', '4096', fs_image)
        run('debugfs', '-w', '-R', 'mkdir docs', fs_image)
        debugfs_write(fs_image, self.path('src', 'random.bin'), 'random.bin')
        debugfs_write(fs_image, self.path('src', 'notes.txt'),
                      'docs/notes.txt')
        full = self.env.backup(fs_image)
        debugfs_write(fs_image, self.path('src', 'later.bin'), 'later.bin')
        incremental = self.env.backup(fs_image, parent=full['backup'],
                                      volume=full['volume'])['backup']

        mountpoint = self.path('fuse')
        proc, image, log = self.mount(incremental, mountpoint)
        self.assertEqual(IMAGE_SIZE, os.path.getsize(image))
        self.assertEqual([os.path.basename(image)], os.listdir(mountpoint))
        with open(fs_image, 'rb') as a, open(image, 'rb') as b:
            self.assertTrue(a.read() == b.read(), 'image differs')
        self.assertRaises(OSError, open, image, 'r+b')

        files_dir = self.path('files')
        os.makedirs(files_dir)
        run('mount', '-o', 'loop,ro', image, files_dir)
        try:
            for name, relative in (('random.bin', 'random.bin'),
                                   ('notes.txt', 'docs/notes.txt'),
                                   ('later.bin', 'later.bin')):
                with open(os.path.join(files_dir, relative), 'rb') as f:
                    self.assertTrue(f.read() == files[name],
                                    '%s differs' % relative)
        finally:
            run('umount', files_dir)

        proc.send_signal(signal.SIGTERM)
        self.assertEqual(0, proc.wait(60))
        self.assertFalse(os.path.ismount(mountpoint))
        log.seek(0)
        self.assertIn('unmounted', log.read())

        # Damage: the read fails, it does not return wrong bytes.
        victim = test_tools_verify.data_objects(self.env,
                                                full['backup'])[0]
        test_tools_verify.flip_byte(victim)
        _proc, image, log = self.mount(incremental, self.path('fuse2'))
        with open(image, 'rb') as f:
            error = self.assertRaises(OSError, f.read)
        self.assertEqual(errno.EIO, error.errno)
        log.seek(0)
        self.assertIn('digest mismatch', log.read())
