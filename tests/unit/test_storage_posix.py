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

"""PosixStore: atomic writes, permissions, containment."""

import errno
import os
import stat
import tracemalloc

import fixtures
import testtools

from cinder_backup_ext import exception
from cinder_backup_ext.storage import posix


class PosixStoreTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.root = self.useFixture(fixtures.TempDir()).path
        self.store = posix.PosixStore(self.root)
        old = os.umask(0o077)
        self.addCleanup(os.umask, old)

    def _mode(self, *parts):
        return stat.S_IMODE(os.stat(os.path.join(self.root, *parts)).st_mode)

    def test_objects_and_directories_get_group_modes_despite_umask(self):
        self.store.put_object('c/d', 'data/00000/00000001', b'hello')
        self.assertEqual(b'hello',
                         self.store.get_object('c/d', 'data/00000/00000001'))
        self.assertEqual(0o660, self._mode('c', 'd', 'data', '00000',
                                           '00000001'))
        for directory in (('c',), ('c', 'd'), ('c', 'd', 'data')):
            self.assertEqual(0o770, self._mode(*directory))

    def test_missing_root_is_created(self):
        store = posix.PosixStore(os.path.join(self.root, 'new', 'root'))
        store.put_object('c', 'obj', b'.')
        self.assertEqual(0o770, self._mode('new', 'root'))
        self.assertEqual(b'.', store.get_object('c', 'obj'))

    def test_failed_write_leaves_nothing(self):
        def write_then_fail():
            with self.store.get_object_writer('c', 'obj') as writer:
                writer.write(b'partial')
                raise RuntimeError('disk on fire')
        self.assertRaises(RuntimeError, write_then_fail)
        self.assertEqual([], os.listdir(os.path.join(self.root, 'c')))
        self.assertFalse(self.store.exists('c', 'obj'))

    def test_overwrite_is_atomic_replacement(self):
        self.store.put_object('c', 'obj', b'one')
        self.store.put_object('c', 'obj', b'two')
        self.assertEqual(b'two', self.store.get_object('c', 'obj'))
        self.assertEqual(['obj'], os.listdir(os.path.join(self.root, 'c')))

    def test_list_is_recursive_and_sorted(self):
        for name in ('b', 'a/2', 'a/1', 'z/y/x'):
            self.store.put_object('c', name, b'.')
        self.assertEqual(['a/1', 'a/2', 'b', 'z/y/x'],
                         self.store.list_objects('c'))
        self.assertEqual(['a/1', 'a/2'], self.store.list_objects('c', 'a/'))

    def test_missing_object(self):
        self.assertRaises(exception.ObjectNotFound, self.store.get_object,
                          'c', 'nothing')
        self.assertRaises(exception.ObjectNotFound, self.store.object_size,
                          'c', 'nothing')
        self.store.delete_object('c', 'nothing')

    def test_delete_container_removes_empty_directories_only(self):
        self.store.put_object('c/x/y', 'obj', b'.')
        self.store.put_object('c/keep', 'obj', b'.')
        self.store.delete_object('c/x/y', 'obj')
        self.store.delete_container('c/x/y')
        self.assertFalse(os.path.exists(os.path.join(self.root, 'c', 'x')))
        self.assertTrue(self.store.exists('c/keep', 'obj'))

    def test_paths_cannot_leave_the_root(self):
        self.assertRaises(exception.StorageError, self.store.put_object,
                          '../outside', 'obj', b'.')
        self.assertRaises(exception.StorageError, self.store.get_object,
                          'c', '../../../etc/passwd')
        self.assertFalse(os.path.exists(
            os.path.join(os.path.dirname(self.root), 'outside')))

    def test_symlink_inside_the_root_cannot_redirect_writes(self):
        outside = self.useFixture(fixtures.TempDir()).path
        os.symlink(outside, os.path.join(self.root, 'link'))
        self.assertRaises(exception.StorageError, self.store.put_object,
                          'link/sub', 'obj', b'.')
        self.assertEqual([], os.listdir(outside))


class DurabilityTest(testtools.TestCase):
    """What must reach the disk, and what must never leak, on a real file
    system; the failures are injected where the kernel would report
    them."""

    def setUp(self):
        super().setUp()
        self.root = self.useFixture(fixtures.TempDir()).path
        self.store = posix.PosixStore(self.root)
        self.synced = []
        real = posix._fsync_directory

        def record(path, missing_ok=False):
            self.synced.append(os.path.relpath(path, self.root))
            return real(path, missing_ok)
        self.useFixture(fixtures.MonkeyPatch(
            'cinder_backup_ext.storage.posix._fsync_directory', record))

    @staticmethod
    def _open_fds():
        return len(os.listdir('/proc/self/fd'))

    def test_new_directories_are_synced_into_their_parents(self):
        self.store.put_object('c/d', 'data/00000/00000001', b'x')
        for parent in ('.', 'c', 'c/d', 'c/d/data'):
            self.assertIn(parent, self.synced)
        # And the object's own directory, after its rename.
        self.assertEqual('c/d/data/00000', self.synced[-1])

    def test_unlinks_are_synced_once_per_directory(self):
        names = ['a/1', 'a/2', 'b/1']
        for name in names:
            self.store.put_object('c', name, b'x')
        del self.synced[:]
        self.store.delete_objects('c', names + ['a/missing'])
        self.assertEqual(['c/a', 'c/b'], self.synced)
        self.assertEqual([], self.store.list_objects('c'))

    def test_removed_directories_are_synced_in_their_parents(self):
        self.store.put_object('c/d', 'obj', b'x')
        self.store.delete_object('c/d', 'obj')
        del self.synced[:]
        self.store.delete_container('c/d')
        self.assertEqual(['c', '.'], self.synced)
        self.assertEqual([], os.listdir(self.root))

    def test_a_failed_fsync_closes_and_removes_the_file(self):
        before = self._open_fds()

        def failing_fsync(fd):
            raise OSError(errno.EIO, 'I/O error')
        with fixtures.MonkeyPatch('os.fsync', failing_fsync):
            for _attempt in range(5):
                error = self.assertRaises(OSError, self.store.put_object,
                                          'c', 'obj', b'data')
                self.assertEqual(errno.EIO, error.errno)
        self.assertEqual(before, self._open_fds())
        self.assertEqual([], os.listdir(os.path.join(self.root, 'c')))

    def test_a_failed_chmod_closes_and_removes_the_file(self):
        before = self._open_fds()

        def failing_fchmod(fd, mode):
            raise OSError(errno.EPERM, 'not permitted')
        with fixtures.MonkeyPatch('os.fchmod', failing_fchmod):
            self.assertRaises(OSError, self.store.put_object, 'c', 'obj',
                              b'data')
            self.assertRaises(OSError, self.store.reserve_object, 'c',
                              'obj')
        self.assertEqual(before, self._open_fds())
        self.assertEqual([], os.listdir(os.path.join(self.root, 'c')))

    def _unreadable(self, relative):
        """os.scandir fails on root/relative as on a directory whose
        server refuses the listing."""
        real = os.scandir
        target = os.path.join(self.root, relative)

        def scandir(path='.'):
            if os.fspath(path) == target:
                raise PermissionError(errno.EACCES, 'Permission denied',
                                      target)
            return real(path)
        return fixtures.MonkeyPatch('os.scandir', scandir)

    def test_a_directory_that_cannot_be_listed_fails_the_listing(self):
        self.store.put_object('c', 'data/1', b'x')
        self.store.put_object('c', 'index/1', b'x')
        with self._unreadable('c/data'):
            self.assertRaises(PermissionError, self.store.list_objects, 'c')

    def test_a_directory_that_cannot_be_listed_fails_the_delete(self):
        self.store.put_object('c', 'data/1', b'x')
        self.store.delete_object('c', 'data/1')
        with self._unreadable('c/data'):
            self.assertRaises(PermissionError, self.store.delete_container,
                              'c')
        self.assertTrue(os.path.isdir(os.path.join(self.root, 'c', 'data')))

    def test_a_container_already_gone_is_no_error(self):
        self.assertEqual([], self.store.list_objects('never/made'))
        self.store.delete_container('never/made')

    def test_an_object_is_read_into_the_buffer_without_a_copy(self):
        # cinder-backup runs with os patched by eventlet, whose fdopen
        # gives a GreenPipe: its readinto reads a new bytes object the size
        # of the read and copies it, memory the allocator keeps per worker.
        from eventlet.green import os as green_os
        self.useFixture(fixtures.MonkeyPatch('os.fdopen', green_os.fdopen))
        data = os.urandom(4 * 1024 * 1024)
        self.store.put_object('c', 'data/1', data)
        buffer = bytearray(len(data) + 1)
        tracemalloc.start()
        try:
            count = self.store.read_object_into('c', 'data/1', buffer)
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        self.assertEqual(len(data), count)
        self.assertEqual(data, bytes(buffer[:count]))
        self.assertLess(peak, 256 * 1024)
