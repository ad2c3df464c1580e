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

"""ObjectStore on a POSIX file system (a local directory or a mounted share).

Owns atomic, durable file writes and the permissions of what it creates.  It
must not know about backups or formats: it stores named byte strings.

Every object is written to a temporary file in its final directory, fsynced,
renamed into place, and the directory is fsynced, so a crash at any point
leaves either the whole object or a temporary file that no reader sees.
Files are 0660 and directories 0770 so that every cinder-backup host of a
shared repository (same service group) can read and clean up what another
wrote, whatever the umask.
"""

import errno
import io
import os
import stat
import uuid

from cinder_backup_ext import exception
from cinder_backup_ext.storage import base

FILE_MODE = 0o660
DIR_MODE = 0o770
TEMP_MARK = '.tmp-'
# Times a container is created again after a parent vanished under it
# (see PosixStore.put_container).
_VANISHED_PARENT_ATTEMPTS = 16


def _fsync_directory(path, missing_ok=False):
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        if missing_ok:
            return
        raise
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temp_name(name):
    return '.%s%s%s' % (name, TEMP_MARK, uuid.uuid4().hex)


class _AtomicWriter(object):
    """Writes an object to a temporary name, then renames it into place.

    With reserved, the temporary file is one that reserve_object made
    earlier, and it must still be there: if the container was deleted
    meanwhile, the write fails instead of bringing the object back.
    """

    def __init__(self, store, path, reserved=None):
        self._store = store
        self._path = path
        directory, name = os.path.split(path)
        self._directory = directory
        self._reserved = reserved is not None
        self._temp = os.path.join(directory, reserved or _temp_name(name))
        self._fd = None

    def __enter__(self):
        if self._reserved:
            try:
                self._fd = os.open(self._temp, os.O_WRONLY | os.O_TRUNC |
                                   os.O_NOFOLLOW | os.O_CLOEXEC)
            except FileNotFoundError:
                raise exception.ObjectNotFound(
                    '%s: its placeholder was removed' % self._path)
            return self
        self._store.make_directories(self._directory)
        self._fd = _create_file(self._temp)
        return self

    def write(self, data):
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def __exit__(self, exc_type, exc, tb):
        try:
            try:
                if exc_type is None:
                    os.fsync(self._fd)
            finally:
                os.close(self._fd)
            if exc_type is None:
                try:
                    os.rename(self._temp, self._path)
                except FileNotFoundError:
                    if not self._reserved:
                        raise
                    raise exception.ObjectNotFound(
                        '%s: its placeholder was removed' % self._path)
                _fsync_directory(self._directory)
        finally:
            _unlink_quietly(self._temp)
        return False


def _create_file(path):
    """A new file, 0660 whatever the umask, open for writing."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                 FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        _unlink_quietly(path)
        raise
    return fd


def _unlink_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


class PosixStore(base.ObjectStore):
    """Objects are files below root; containers are directories."""

    def __init__(self, root):
        self.root = os.path.realpath(root)

    def _path(self, container, name=None):
        parts = [self.root, container] + ([name] if name else [])
        path = os.path.normpath(os.path.join(*parts))
        # Names are validated before they get here; this is the last line
        # of defence against a name that escapes the root.
        if path != self.root and not path.startswith(self.root + os.sep):
            raise exception.StorageError(
                'path %r leaves the repository root %s' % (path, self.root))
        return path

    def make_directories(self, path):
        """Create path and missing parents, each 0770 despite the umask."""
        missing = []
        while not self._is_directory(path):
            missing.append(path)
            if path == self.root:
                # As Cinder's driver does, a missing repository root is
                # created with its parents (a share's mount point always
                # exists, so this only happens to local directories).
                os.makedirs(os.path.dirname(path), exist_ok=True)
                break
            path = os.path.dirname(path)
        else:
            # A symbolic link planted inside the repository must not
            # redirect writes elsewhere: the deepest existing directory
            # must resolve inside the root before anything is created
            # below it.
            self._check_inside(path)
        for directory in reversed(missing):
            try:
                os.mkdir(directory, DIR_MODE)
            except FileExistsError:
                continue
            os.chmod(directory, DIR_MODE)
            # A new directory is durable once its parent's entry is: an
            # object renamed into it and fsynced would otherwise be lost
            # with the directory in a crash.
            _fsync_directory(os.path.dirname(directory))

    def _check_inside(self, directory):
        """Raise StorageError unless directory resolves inside the root.

        Whoever can write to the share could plant a symbolic link in
        place of a backup's directory or one of its parents; reads,
        listings and deletes through it would reach files anywhere on the
        backup host (a delete would remove them).
        """
        resolved = os.path.realpath(directory)
        if resolved != self.root and not resolved.startswith(
                self.root + os.sep):
            raise exception.StorageError(
                'directory %s resolves outside the repository root %s'
                % (directory, self.root))

    @staticmethod
    def _is_directory(path):
        # Unlike os.path.isdir, an I/O error is an error, not "missing": on
        # a share whose server hangs, isdir would walk up to the root, one
        # timeout per level, before the failure surfaced.
        try:
            return stat.S_ISDIR(os.stat(path).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            return False

    def put_container(self, container):
        """Create the container and its parents.

        Hosts sharing a repository create and remove the same container
        and fan-out directories: delete_container on one host removes a
        parent that became empty while another host is creating a
        directory below it.  The mkdir then fails with ENOENT, and the
        walk starts again from what exists now.  Only here: below a
        container nobody else removes anything, and a directory that
        vanishes there went with its backup, which must fail the write.
        """
        path = self._path(container)
        for attempt in range(_VANISHED_PARENT_ATTEMPTS):
            try:
                return self.make_directories(path)
            except FileNotFoundError:
                if attempt + 1 == _VANISHED_PARENT_ATTEMPTS:
                    raise

    def get_object_writer(self, container, name):
        return _AtomicWriter(self, self._path(container, name))

    def get_object_reader(self, container, name):
        path = self._path(container, name)
        self._check_inside(os.path.dirname(path))
        try:
            # The driver never makes symbolic links; one in place of an
            # object was planted, and must not be followed out of the
            # repository.
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            raise exception.ObjectNotFound('%s/%s' % (container, name))
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise exception.StorageError(
                    '%s/%s is a symbolic link, not an object'
                    % (container, name))
            raise
        # Not os.fdopen: under eventlet it is a GreenPipe, whose readinto
        # reads into a new bytes object and copies that into the buffer,
        # an object-sized allocation per read that the allocator then
        # keeps in the arena of whichever native worker made it.
        return io.FileIO(fd, 'rb')

    def reserve_object(self, container, name):
        path = self._path(container, name)
        directory, base_name = os.path.split(path)
        self.make_directories(directory)
        temp = _temp_name(base_name)
        os.close(_create_file(os.path.join(directory, temp)))
        _fsync_directory(directory)
        return temp

    def commit_object(self, container, name, reservation, data):
        if os.sep in reservation or TEMP_MARK not in reservation:
            raise exception.StorageError('%r is not a placeholder'
                                         % reservation)
        with _AtomicWriter(self, self._path(container, name),
                           reservation) as writer:
            writer.write(data)

    def list_objects(self, container, prefix=''):
        top = self._path(container)
        # os.walk follows a symbolic link given as its top (not below it).
        self._check_inside(top)
        names = []
        for directory, subdirs, files in os.walk(
                top, onerror=self._walk_error_unless_gone):
            subdirs.sort()
            relative = os.path.relpath(directory, top)
            for filename in files:
                name = filename if relative == '.' else \
                    '%s/%s' % (relative.replace(os.sep, '/'), filename)
                if name.startswith(prefix):
                    names.append(name)
        return sorted(names)

    def delete_object(self, container, name):
        self.delete_objects(container, [name])

    def delete_objects(self, container, names):
        """Unlink them, then fsync each directory they were in once: a
        removal is durable once its directory is, and one fsync per
        directory keeps a large delete from waiting on one per object."""
        touched = set()
        for name in names:
            path = self._path(container, name)
            directory = os.path.dirname(path)
            # unlink never follows the last component; the directories
            # above it must not lead out of the repository either.
            if directory not in touched:
                self._check_inside(directory)
            try:
                os.unlink(path)
            except FileNotFoundError:
                continue
            touched.add(directory)
        for directory in sorted(touched):
            _fsync_directory(directory)

    def delete_container(self, container):
        """Remove empty directories of the container, bottom up."""
        top = self._path(container)
        self._check_inside(top)
        for directory, _subdirs, _files in os.walk(
                top, topdown=False, onerror=self._walk_error_unless_gone):
            self._remove_if_empty(directory)
        parent = os.path.dirname(top)
        while parent.startswith(self.root + os.sep) and \
                self._remove_if_empty(parent):
            parent = os.path.dirname(parent)

    @staticmethod
    def _walk_error_unless_gone(error):
        # os.walk skips a directory it cannot list unless told otherwise:
        # a delete or a listing would "succeed" with files left unseen.  A
        # directory already removed (by another host, or an earlier
        # attempt) holds nothing, which is no error.
        if not isinstance(error, FileNotFoundError):
            raise error

    @staticmethod
    def _remove_if_empty(directory):
        try:
            os.rmdir(directory)
        except OSError as error:
            if error.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT,
                               errno.EBUSY):
                return False
            raise
        # Another host may have removed the parent meanwhile.
        _fsync_directory(os.path.dirname(directory), missing_ok=True)
        return True

    def object_size(self, container, name):
        try:
            return os.stat(self._path(container, name)).st_size
        except FileNotFoundError:
            raise exception.ObjectNotFound('%s/%s' % (container, name))
