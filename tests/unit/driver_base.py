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

"""Shared fixture for black-box tests of backup drivers.

Drives a backup driver only through Cinder's BackupDriver API (backup,
restore, delete_backup, export_record, import_record, check_for_setup_error)
the way cinder-backup's manager calls it, on Cinder's own unit-test fixtures:
volume and backup records live in Cinder's in-memory database, volumes are
small real files, and every check of restored data hashes the files rather
than asking the driver.

The repository is inspected only through the file system, so these helpers
know where a backup lives (a directory named after the backup ID, with a
data/ subtree for this library's format, or Cinder's flat prefix-named
objects) but nothing about how the engine works.
"""

import io
import os
import random

import eventlet
from eventlet import patcher
import fixtures
from oslo_utils import units

from cinder import context
from cinder.db import api as db
from cinder import objects
from cinder.objects import fields
from cinder.tests.unit import fake_constants as fake
from cinder.tests.unit import test
from cinder import utils as cinder_utils
from cinder.volume import volume_utils

from tests import checksums
from tests.unit import thread_rules

_native_thread = patcher.original('_thread')
_native_threading = patcher.original('threading')
_native_time = patcher.original('time')

# Small sizes keep the suite fast while still spreading a volume over many
# objects and many change-tracking blocks.
OBJECT_SIZE = 64 * units.Ki
BLOCK_SIZE = 4 * units.Ki

# Cinder's spellings of backup_compression_algorithm, canonical names first.
COMPRESSIONS = ('none', 'zlib', 'bz2', 'zstd')
COMPRESSION_ALIASES = ('off', 'no', 'gzip', 'bzip2')

# Maps random bytes onto eight letters: about three bits of entropy per
# byte, so every codec shrinks it but none can drop it entirely.
_LETTERS = bytes(b'ACGTacgt'[i & 7] for i in range(256))


def random_bytes(size, seed):
    """Incompressible bytes, reproducible from the seed."""
    return random.Random(seed).randbytes(size)


def compressible_bytes(size, seed):
    """Bytes every codec can shrink to roughly half or less."""
    return random_bytes(size, seed).translate(_LETTERS)


sha256_bytes = checksums.sha256_bytes
sha256_file = checksums.sha256_file


def tree_files(root):
    """Every regular file under root, as paths relative to root."""
    found = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            found.append(os.path.relpath(os.path.join(dirpath, name), root))
    return sorted(found)


def tree_entries(root):
    """Every file and directory under root, as paths relative to root."""
    found = set()
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            found.add(os.path.relpath(os.path.join(dirpath, name), root))
    return found


class HookedFile(object):
    """A volume file whose reads and writes can trigger a callback.

    It deliberately has no usable fileno(), like the file-like objects
    cinder-backup hands to drivers for some volume back ends, so the driver
    must do its I/O through read/write/seek and every byte passes the hooks.
    """

    def __init__(self, f, on_read=None, on_write=None):
        self._f = f
        self._on_read = on_read
        self._on_write = on_write
        self.bytes_read = 0
        self.bytes_written = 0
        self.reads = 0
        self.writes = 0

    def read(self, size=-1):
        data = self._f.read(size)
        self.reads += 1
        self.bytes_read += len(data)
        if self._on_read is not None:
            self._on_read(self)
        return data

    def write(self, data):
        written = self._f.write(data)
        self.writes += 1
        self.bytes_written += len(data)
        if self._on_write is not None:
            self._on_write(self)
        return written

    def seek(self, offset, whence=os.SEEK_SET):
        return self._f.seek(offset, whence)

    def tell(self):
        return self._f.tell()

    def flush(self):
        return self._f.flush()

    def fileno(self):
        raise io.UnsupportedOperation('fileno')

    def close(self):
        return self._f.close()


class StatusFlip(object):
    """Set a backup's status in the database when fire() is first called.

    fire() may be called from a native thread (a driver may read or write
    the volume from a thread pool), but Cinder's in-memory test database can
    only be used from the test's own thread.  A native caller therefore hands
    the update to a green thread in the test's thread and waits, bounded so
    a driver that never yields fails the test instead of hanging it.
    """

    _NATIVE_WAIT = 10

    def __init__(self, ctxt, backup_id, status):
        self._ctxt = ctxt
        self._backup_id = backup_id
        self._status = status
        self._owner = _native_thread.get_ident()
        self._requested = False
        self._applied = _native_threading.Event()
        self._watcher = eventlet.spawn(self._watch)

    @property
    def fired(self):
        return self._applied.is_set()

    def fire(self, *_args):
        if self._applied.is_set():
            return
        if _native_thread.get_ident() == self._owner:
            self._apply()
        else:
            self._requested = True
            self._applied.wait(self._NATIVE_WAIT)

    def stop(self):
        self._watcher.kill()

    def pace(self, seconds):
        """Sleep in whatever thread the volume I/O runs in.

        Called for each read or write after the change, it makes the rest
        of the volume take as long as a real one would, so a driver that
        polls its status a few times a second still sees the change
        before it runs out of data.  The test's own thread sleeps green so
        the watcher keeps running.
        """
        if _native_thread.get_ident() == self._owner:
            eventlet.sleep(seconds)
        else:
            _native_time.sleep(seconds)

    def _apply(self):
        if not self._applied.is_set():
            db.backup_update(self._ctxt, self._backup_id,
                             {'status': self._status})
            self._applied.set()

    def _watch(self):
        while not self._applied.is_set():
            if self._requested:
                self._apply()
                return
            eventlet.sleep(0.001)


class DriverTestCase(test.TestCase):
    """Cinder's TestCase plus a temp repository and volume helpers."""

    COMPRESSION = 'zstd'

    def setUp(self):
        super().setUp()
        # Whatever a test does, the driver keeps concurrency's rules: no
        # logging on native threads, no store I/O on the hub's.
        self.useFixture(thread_rules.ThreadRules())
        self.ctxt = context.get_admin_context()
        # Keep usage notifications of one test from leaking into another.
        self.mock_object(volume_utils, 'notify_about_backup_usage')
        self.tmp = self.useFixture(fixtures.TempDir()).path
        # The repository sits one level down so that names escaping it with
        # '..' would land in a directory the tests can still watch.
        self.outside = os.path.join(self.tmp, 'root')
        self.repo = os.path.join(self.outside, 'repo')
        self.work = os.path.join(self.tmp, 'volumes')
        os.makedirs(self.repo)
        os.makedirs(self.work)
        # Importing the driver registers the options it reads.
        self.driver_class()
        self.flags(backup_posix_path=self.repo,
                   backup_compression_algorithm=self.COMPRESSION,
                   backup_sha_block_size_bytes=BLOCK_SIZE,
                   backup_file_size=OBJECT_SIZE,
                   backup_enable_progress_timer=False,
                   backup_container=None)
        self.configure_driver()
        self.volume = self.create_volume()
        self.target_volume = self.create_volume()

    # Driver selection ---------------------------------------------------

    def driver_class(self):
        from cinder_backup_ext.drivers import posix
        return posix.PosixBackupDriver

    def configure_driver(self):
        """Options only the driver under test knows."""
        self.flags(backup_object_size=OBJECT_SIZE)

    def make_driver(self, driver_class=None):
        # cinder-backup builds a new driver object for every operation.
        return (driver_class or self.driver_class())(self.ctxt)

    # Database records ---------------------------------------------------

    def create_volume(self, size_gb=1, **kwargs):
        volume = objects.Volume(
            context=self.ctxt, size=size_gb, status='available',
            host='backup-test-host', user_id=fake.USER_ID,
            project_id=fake.PROJECT_ID, volume_type_id=self.vt['id'],
            display_name=kwargs.pop('display_name', 'vol'),
            attach_status=fields.VolumeAttachStatus.DETACHED, **kwargs)
        volume.create()
        return volume

    def create_backup_record(self, volume=None, parent=None, container=None,
                             status=fields.BackupStatus.CREATING):
        volume = volume or self.volume
        backup = objects.Backup(
            context=self.ctxt, volume_id=volume.id, status=status,
            user_id=fake.USER_ID, project_id=fake.PROJECT_ID,
            display_name='backup', display_description='test backup',
            container=container, size=volume.size,
            parent_id=parent.id if parent else None,
            availability_zone='nova', host='backup-test-host',
            service='cinder_backup_ext.drivers.posix.PosixBackupDriver')
        backup.create()
        return backup

    def reload(self, backup):
        return objects.Backup.get_by_id(self.ctxt, backup.id)

    # Volume files -------------------------------------------------------

    def write_volume(self, data, name='source.img'):
        path = os.path.join(self.work, name)
        with open(path, 'wb') as f:
            f.write(data)
        return path

    def new_target(self, size, name='target-new.img'):
        """A sparse, all-zero file: what a freshly created volume reads as."""
        path = os.path.join(self.work, name)
        with open(path, 'wb') as f:
            f.truncate(size)
        return path

    def existing_target(self, size, name='target-old.img', seed=999):
        """A volume full of unrelated data that restore must overwrite."""
        path = os.path.join(self.work, name)
        with open(path, 'wb') as f:
            f.write(random_bytes(size, seed))
        return path

    # Driver operations, called as cinder-backup's manager calls them ----

    def run_backup(self, data_or_path, parent=None, container=None,
                   backup_metadata=True, volume=None, driver_class=None,
                   wrap=None):
        """Back up a volume; return the backup record as it ends up."""
        if isinstance(data_or_path, bytes):
            path = self.write_volume(data_or_path)
        else:
            path = data_or_path
        backup = self.create_backup_record(volume=volume, parent=parent,
                                           container=container)
        driver = self.make_driver(driver_class)
        with open(path, 'rb') as f:
            volume_file = wrap(f) if wrap else cinder_utils.tpool_wrap(f)
            updates = driver.backup(backup, volume_file,
                                    backup_metadata=backup_metadata)
        backup = self.reload(backup)
        if updates:
            backup.update(updates)
        backup.status = fields.BackupStatus.AVAILABLE
        backup.save()
        return backup

    def run_restore(self, backup, path, volume_is_new, volume=None,
                    driver_class=None, wrap=None):
        """Restore into an existing file without truncating it.

        The manager opens a block device with 'wb', which never truncates
        a device; 'r+b' gives a regular file the same semantics.
        """
        volume = volume or self.target_volume
        backup = self.reload(backup)
        backup.status = fields.BackupStatus.RESTORING
        backup.save()
        driver = self.make_driver(driver_class)
        try:
            with open(path, 'r+b') as f:
                volume_file = wrap(f) if wrap else cinder_utils.tpool_wrap(f)
                driver.restore(backup, volume.id, volume_file, volume_is_new)
        finally:
            backup = self.reload(backup)
            if backup.status == fields.BackupStatus.RESTORING:
                backup.status = fields.BackupStatus.AVAILABLE
                backup.save()

    def run_delete(self, backup, driver_class=None):
        backup = self.reload(backup)
        backup.status = fields.BackupStatus.DELETING
        backup.save()
        self.make_driver(driver_class).delete_backup(backup)
        backup.destroy()

    def restore_bytes(self, backup, size, volume_is_new, **kwargs):
        """Restore into a new or a garbage-filled target; return its hash."""
        if volume_is_new:
            path = self.new_target(size)
        else:
            path = self.existing_target(size)
        self.run_restore(backup, path, volume_is_new, **kwargs)
        self.assertEqual(size, os.path.getsize(path),
                         'restore changed the size of the target')
        return sha256_file(path)

    def assertRestores(self, backup, expected, **kwargs):
        """Both kinds of restore reproduce expected byte for byte."""
        want = sha256_bytes(expected)
        for volume_is_new in (True, False):
            got = self.restore_bytes(backup, len(expected), volume_is_new,
                                     **kwargs)
            self.assertEqual(
                want, got, 'restore of %s (volume_is_new=%s) differs'
                % (backup.id, volume_is_new))

    # Repository inspection ----------------------------------------------

    def backup_dirs(self, backup):
        """Directories in the repository named after the backup's ID."""
        found = []
        for dirpath, dirs, _files in os.walk(self.repo):
            if backup.id in dirs:
                found.append(os.path.join(dirpath, backup.id))
        return found

    def backup_dir(self, backup):
        dirs = self.backup_dirs(backup)
        self.assertEqual(1, len(dirs),
                         'expected one directory for backup %s, found %s'
                         % (backup.id, dirs))
        return dirs[0]

    def backup_files(self, backup):
        """Files stored for the backup, relative to the repository.

        Covers both layouts: a directory of its own, and Cinder's objects
        whose names start with the backup's service_metadata prefix.
        """
        found = set()
        for rel in tree_files(self.repo):
            parts = rel.split(os.sep)
            if backup.id in parts[:-1]:
                found.add(rel)
            elif (backup.service_metadata and
                    parts[-1].startswith(backup.service_metadata)):
                found.add(rel)
        return sorted(found)

    def data_objects(self, backup):
        """Absolute paths of the backup's data objects, in name order."""
        for directory in self.backup_dirs(backup):
            data = os.path.join(directory, 'data')
            if os.path.isdir(data):
                return [os.path.join(data, rel) for rel in tree_files(data)]
        prefix = backup.service_metadata
        return sorted(
            os.path.join(self.repo, rel) for rel in self.backup_files(backup)
            if not rel.endswith(('_metadata', '_sha256file'))
            and os.path.basename(rel).startswith(prefix))

    def data_bytes(self, backup):
        return sum(os.path.getsize(p) for p in self.data_objects(backup))

    def stored_bytes(self, backup):
        return sum(os.path.getsize(os.path.join(self.repo, rel))
                   for rel in self.backup_files(backup))
