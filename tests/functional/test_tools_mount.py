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
wrong data.  The image is the mounting user's alone unless --allow-other
and --mode say otherwise, and the kernel enforces that against another
user (nobody).

The keys come from tests/functional/file_key_manager.py: castellan's
in-memory key manager keeps keys inside one process, and the backups are
made by one child process and mounted by another, as cinder-backup and
the operator's command would be.
"""

import errno
import hashlib
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

    def mount(self, backup_id, mountpoint, *options):
        os.makedirs(mountpoint, exist_ok=True)
        log = open(self.path('mount-%s-%s.log' % (
            backup_id[:8], os.path.basename(mountpoint))), 'w+')
        self.addCleanup(log.close)
        command = ['mount', '--config-file', self.env.config, backup_id,
                   mountpoint] + list(options)
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


NOBODY = 65534


def as_nobody(*command):
    return subprocess.run(
        ['setpriv', '--reuid', str(NOBODY), '--regid', str(NOBODY),
         '--clear-groups', '--'] + list(command),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, timeout=60)


def mount_options(mountpoint):
    """The mount options and super options the kernel reports."""
    with open('/proc/self/mountinfo') as f:
        for line in f:
            fields = line.split()
            if fields[4] == mountpoint:
                # ... mount options - fstype source super options
                dash = fields.index('-')
                return set(fields[5].split(',') +
                           fields[dash + 3].split(','))
    raise AssertionError('%s is not mounted' % mountpoint)


class MountPermissionsTest(MountTestCase):
    """Who else may read the decrypted image."""

    def setUp(self):
        super().setUp()
        if shutil.which('setpriv') is None:
            self.skipTest('needs setpriv (util-linux)')
        # Another user must reach the mount point, so that only the mount
        # itself can turn it away.
        for path in (self.workdir, os.path.dirname(self.workdir)):
            os.chmod(path, os.stat(path).st_mode | 0o111)
        self.volume = self.path('volume.img')
        with open(self.volume, 'wb') as f:
            f.write(random.Random(12).randbytes(2 * MiB))
        with open(self.volume, 'rb') as f:
            self.digest = hashlib.sha256(f.read()).hexdigest()
        self.backup_id = self.env.backup(self.volume)['backup']

    def assertNobodyCannotRead(self, image):
        proc = as_nobody('cat', image)
        self.assertNotEqual(0, proc.returncode)
        self.assertIn(b'Permission denied', proc.stderr)
        self.assertEqual(b'', proc.stdout)

    def test_owner_only_by_default(self):
        mountpoint = self.path('default')
        _proc, image, _log = self.mount(self.backup_id, mountpoint)
        info = os.stat(image)
        self.assertEqual(0o400, info.st_mode & 0o7777)
        self.assertEqual(os.getuid(), info.st_uid)
        self.assertEqual(0o500, os.stat(mountpoint).st_mode & 0o7777)
        options = mount_options(mountpoint)
        self.assertIn('default_permissions', options)
        self.assertNotIn('allow_other', options)
        with open(image, 'rb') as f:
            self.assertEqual(self.digest, hashlib.sha256(f.read()).hexdigest())
        self.assertNobodyCannotRead(image)

    def test_allow_other_alone_still_keeps_others_out(self):
        # Other users reach the file system, and the kernel checks the
        # modes for them: a 0500 directory and a 0400 image give them
        # nothing.
        mountpoint = self.path('others')
        _proc, image, _log = self.mount(self.backup_id, mountpoint,
                                        '--allow-other')
        options = mount_options(mountpoint)
        self.assertIn('allow_other', options)
        self.assertIn('default_permissions', options)
        self.assertEqual(0o400, os.stat(image).st_mode & 0o7777)
        self.assertEqual(0o500, os.stat(mountpoint).st_mode & 0o7777)
        self.assertNobodyCannotRead(image)
        listing = as_nobody('ls', mountpoint)
        self.assertIn(b'Permission denied', listing.stderr)

    def test_mode_stated_by_the_operator_lets_others_read(self):
        # The control of the two cases above: with read permission for
        # others, nobody does read the image, so what kept it out there
        # was the mode, not the path.
        mountpoint = self.path('shared')
        _proc, image, _log = self.mount(self.backup_id, mountpoint,
                                        '--allow-other', '--mode', '0444')
        self.assertEqual(0o444, os.stat(image).st_mode & 0o7777)
        proc = as_nobody('sha256sum', image)
        self.assertEqual(0, proc.returncode, proc.stderr)
        self.assertEqual(self.digest, proc.stdout.split()[0].decode())
