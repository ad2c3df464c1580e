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

"""Back up, change, back up incrementally and restore a generated volume.

Runs a backup driver the way cinder-backup does (eventlet monkey patched,
tpool-wrapped volume file, Cinder's own database layer on a throwaway
SQLite file, notifications to a no-op driver) and checks the restored
volume byte for byte.  Needs no cloud, no root and no network; everything
lives in one work directory.

This module owns the demo only: it must not reach into a driver's
internals, so that any class with Cinder's BackupDriver API can be shown.
Cinder is imported inside the functions that use it: the unit tests import
this module for its helpers, and must not get Cinder's global setup (or
oslo.context before their eventlet monkey patching) with them.
"""

import collections
import importlib
import os
import random
import shutil
import socket
import sys
import tempfile
import traceback
import warnings

from cinder_backup_ext.cmd import main as cmd_main
from cinder_backup_ext.cmd import progress

DESCRIPTION = (
    'Generate a volume (a quarter each of random data, zeros, text and '
    'patterns with sparse regions), back it up, change 1% of it, back it '
    'up incrementally, restore the incremental into a new volume and '
    'compare it byte for byte with the changed volume. The driver runs as '
    'under cinder-backup: eventlet monkey patched, tpool-wrapped volume '
    'file, Cinder\'s database layer on a throwaway SQLite file. Needs no '
    'cloud, no root and no network. Exits 1 if the restored volume differs.')

MiB = progress.MiB
GiB = 1024 * MiB

DEFAULT_DRIVER = 'cinder_backup_ext.drivers.posix.PosixBackupDriver'
CINDER_DRIVER = 'cinder.backup.drivers.posix.PosixBackupDriver'
DEFAULT_SIZE_MIB = 1024
DEFAULT_SEED = 20240601

# The volume is generated in blocks of this size; a block's content kind is
# picked by where it lies, so each quarter of the volume has one kind.
GEN_BLOCK = MiB
CONTENT_KINDS = ('random', 'zero', 'text', 'pattern/sparse')

# Writes that change the volume are this big, scattered at random aligned
# offsets, so that an incremental backup has to find them.
CHANGE_WRITE = 64 * 1024
CHANGE_FRACTION = 0.01

# Comparison reads this much from each file at a time: memory stays two
# chunks whatever the volume size.
COMPARE_CHUNK = 4 * MiB

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

Mismatch = collections.namedtuple('Mismatch', ['offset', 'reason'])


def add_arguments(parser):
    parser.add_argument('--size', type=int, default=DEFAULT_SIZE_MIB,
                        metavar='MIB',
                        help='volume size in MiB, at least 4 (default: '
                             '%(default)s)')
    parser.add_argument('--workdir', metavar='DIR',
                        help='an empty or new directory to work in, kept '
                             'afterwards (default: a temporary directory, '
                             'removed afterwards unless --keep)')
    parser.add_argument('--keep', action='store_true',
                        help='keep the temporary work directory')
    parser.add_argument('--driver', default=DEFAULT_DRIVER,
                        metavar='CLASS',
                        help='backup driver class path (default: '
                             '%%(default)s; %s runs Cinder\'s own POSIX '
                             'driver for comparison)' % CINDER_DRIVER)
    parser.add_argument('--compression', metavar='ALGORITHM',
                        help='backup_compression_algorithm (default: the '
                             'driver\'s default)')
    parser.add_argument('--set', action='append', default=[],
                        metavar='OPTION=VALUE', dest='options',
                        help='an extra [DEFAULT] option for the generated '
                             'cinder.conf, e.g. backup_native_threads=4; '
                             'may be repeated')
    parser.add_argument('--seed', type=int, default=DEFAULT_SEED,
                        help='seed of the generated content and changes')


# --- the volume --------------------------------------------------------------

_WORDS = (
    'volume backup restore snapshot cinder nova glance keystone request '
    'completed started failed retry attach detach extend migrate manage '
    'scheduler host pool capacity thin thick replica iscsi nfs ceph lvm '
    'project user token service endpoint region zone status available '
    'creating deleting error in-use reserved quota usage bytes seconds'
).split()


def _text_lines(rng, count=4096):
    lines = []
    for n in range(count):
        words = ' '.join(rng.choice(_WORDS) for _ in range(rng.randint(3, 9)))
        lines.append(
            '2024-06-%02d %02d:%02d:%02d.%06d %d INFO cinder.%s '
            '[req-%08x] %s\n' % (
                1 + n % 28, rng.randrange(24), rng.randrange(60),
                rng.randrange(60), rng.randrange(10 ** 6),
                rng.randrange(1000, 99999), rng.choice(_WORDS),
                rng.getrandbits(32), words))
    return [line.encode('ascii') for line in lines]


def _text_block(rng, lines, size):
    # About 80 bytes a line: draw enough lines to overfill, then cut.
    parts = rng.choices(lines, k=size // 60 + 1)
    return b''.join(parts)[:size]


def _pattern_block(rng, index, size):
    """Repeated patterns interleaved with mostly-zero sparse regions."""
    out = bytearray(size)
    sub = 64 * 1024
    for start in range(0, size, sub):
        end = min(size, start + sub)
        slot = (start // sub) % 4
        if slot in (0, 3):
            unit = b'cinder-backup-ext pattern block %010d slot %d\n' % (
                index, slot)
            out[start:end] = (unit * ((end - start) // len(unit) + 1))[
                :end - start]
        elif slot == 1 and end - start >= 4096:
            at = start + rng.randrange((end - start) // 4096) * 4096
            out[at:at + 4096] = rng.randbytes(4096)
        # slot 2 stays zero
    return bytes(out)


def content_kind(block_index, block_count):
    return CONTENT_KINDS[block_index * len(CONTENT_KINDS) // block_count]


def generate_volume(path, size_bytes, seed, phase=None):
    """Write the demo volume: one quarter of each content kind."""
    rng = random.Random(seed)
    lines = _text_lines(rng)
    block_count = -(-size_bytes // GEN_BLOCK)
    with open(path, 'wb') as f:
        # A new volume reads as zeros; leaving zero blocks as holes keeps
        # the demo light on disk, as a thin volume would be.
        f.truncate(size_bytes)
        for index in range(block_count):
            offset = index * GEN_BLOCK
            size = min(GEN_BLOCK, size_bytes - offset)
            kind = content_kind(index, block_count)
            if kind == 'random':
                data = rng.randbytes(size)
            elif kind == 'text':
                data = _text_block(rng, lines, size)
            elif kind == 'pattern/sparse':
                data = _pattern_block(rng, index, size)
            else:
                data = None
            if data is not None:
                f.seek(offset)
                f.write(data)
            if phase:
                phase.advance_to(offset + size)
        f.flush()
        os.fsync(f.fileno())


def change_volume(path, size_bytes, seed, fraction=CHANGE_FRACTION,
                  phase=None):
    """Overwrite about ``fraction`` of the volume at scattered offsets.

    Every eighth write stores zeros, so data that turns into zeros is
    covered too: a restore that skips zero ranges of an incremental would
    keep stale data there.  Returns (bytes changed, number of writes).
    """
    rng = random.Random(seed + 1)
    unit = min(CHANGE_WRITE, size_bytes)
    slots = size_bytes // unit
    count = max(1, min(slots, int(size_bytes * fraction) // unit))
    offsets = sorted(rng.sample(range(slots), count))
    written = 0
    with open(path, 'r+b') as f:
        for n, slot in enumerate(offsets):
            data = bytes(unit) if n % 8 == 7 else rng.randbytes(unit)
            f.seek(slot * unit)
            f.write(data)
            written += unit
            if phase:
                phase.advance_to(written)
        f.flush()
        os.fsync(f.fileno())
    return written, count


def compare_files(expected_path, actual_path, chunk_size=COMPARE_CHUNK,
                  phase=None):
    """Compare two files byte for byte in bounded memory.

    Returns None if they are identical, else a Mismatch naming the first
    differing offset.
    """
    expected_size = os.path.getsize(expected_path)
    actual_size = os.path.getsize(actual_path)
    with open(expected_path, 'rb') as exp, open(actual_path, 'rb') as act:
        offset = 0
        while True:
            want = exp.read(chunk_size)
            got = act.read(chunk_size)
            if want != got:
                limit = min(len(want), len(got))
                at = next((i for i in range(limit) if want[i] != got[i]),
                          limit)
                if at < limit:
                    return Mismatch(offset + at,
                                    'byte %d differs: expected 0x%02x, '
                                    'restored 0x%02x' % (offset + at,
                                                         want[at], got[at]))
                return Mismatch(offset + at,
                                'sizes differ: expected %d bytes, restored '
                                '%d bytes' % (expected_size, actual_size))
            if not want:
                return None
            offset += len(want)
            if phase:
                phase.advance_to(offset)


def repository_usage(root):
    """(bytes, files) stored under ``root``, by apparent size."""
    total = files = 0
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except FileNotFoundError:
                continue
            files += 1
    return total, files


class CountingFile(object):
    """A volume file proxy that reports its position to a progress phase.

    Progress follows the highest offset reached, not bytes moved, because
    a restore to a new volume seeks over zero ranges instead of writing
    them.  It runs inside tpool's native threads, so it must not log.
    """

    def __init__(self, fileobj, phase):
        self._file = fileobj
        self._phase = phase
        self.bytes_read = 0
        self.bytes_written = 0

    def _moved(self):
        self._phase.advance_to(self._file.tell())

    def read(self, size=-1):
        data = self._file.read(size)
        self.bytes_read += len(data)
        self._moved()
        return data

    def readinto(self, buf):
        count = self._file.readinto(buf)
        self.bytes_read += count or 0
        self._moved()
        return count

    def write(self, data):
        count = self._file.write(data)
        self.bytes_written += len(data) if count is None else count
        self._moved()
        return count

    def seek(self, offset, whence=os.SEEK_SET):
        pos = self._file.seek(offset, whence)
        self._moved()
        return pos

    def tell(self):
        return self._file.tell()

    def __getattr__(self, name):
        # flush, fileno, close, truncate...: whatever the file has.
        return getattr(self._file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# --- Cinder around the driver ------------------------------------------------

class DemoError(Exception):
    """A failure with a message for the person running the demo."""


def write_config(workdir, driver, compression=None, options=()):
    """Write the cinder.conf the demo runs with, and return its path."""
    lines = [
        '[DEFAULT]',
        'backup_driver = %s' % driver,
        'backup_posix_path = %s' % os.path.join(workdir, 'repository'),
        'state_path = %s' % os.path.join(workdir, 'state'),
        # The drivers send usage notifications through cinder.rpc; the
        # fake transport and the noop driver need no message broker.
        'transport_url = fake:/',
    ]
    if compression:
        lines.append('backup_compression_algorithm = %s' % compression)
    for option in options:
        name, sep, value = option.partition('=')
        if not sep or not name.strip():
            raise DemoError('--set needs OPTION=VALUE, got %r' % option)
        lines.append('%s = %s' % (name.strip(), value.strip()))
    lines += [
        '',
        '[database]',
        'connection = sqlite:///%s' % os.path.join(workdir, 'cinder.sqlite'),
        '',
        '[oslo_messaging_notifications]',
        'driver = noop',
        '',
        '[oslo_concurrency]',
        'lock_path = %s' % os.path.join(workdir, 'locks'),
        '',
    ]
    path = os.path.join(workdir, 'cinder.conf')
    with open(path, 'w') as f:
        f.write('\n'.join(lines))
    return path


def load_class(path):
    module_name, _sep, class_name = path.rpartition('.')
    try:
        module = importlib.import_module(module_name)
        return getattr(module, class_name)
    except (ImportError, AttributeError, ValueError) as exc:
        hint = ''
        if path == DEFAULT_DRIVER:
            hint = '; --driver %s runs Cinder\'s own driver' % CINDER_DRIVER
        raise DemoError('cannot load driver %s: %s%s' % (path, exc, hint))


class Cinder(object):
    """The parts of cinder-backup's manager the demo needs, on a real DB.

    Status changes follow cinder.backup.manager, because drivers read them:
    backup() stops if its backup turns DELETING, restore() stops if its
    backup leaves RESTORING.
    """

    def __init__(self, driver_path):
        from oslo_config import cfg

        from cinder import context
        from cinder.db import migration
        from cinder import rpc

        self.driver_class = load_class(driver_path)
        rpc.init(cfg.CONF)
        with warnings.catch_warnings():
            if not cfg.CONF.debug:
                # Cinder's SQLite migrations warn about constraints SQLite
                # cannot name; true, and of no use to the demo's reader.
                warnings.simplefilter('ignore')
            migration.db_sync()
        self.driver_path = driver_path
        self.context = context.RequestContext(
            user_id='demo-user', project_id='demo-project', is_admin=True)
        self.host = socket.gethostname()

    def driver(self):
        # Cinder builds a new driver object for every operation.
        return self.driver_class(self.context)

    def check_setup(self):
        self.driver().check_for_setup_error()

    def create_volume(self, name, size_bytes, status='available'):
        from cinder import objects
        volume = objects.Volume(
            context=self.context, display_name=name,
            size=max(1, -(-size_bytes // GiB)), status=status,
            user_id=self.context.user_id,
            project_id=self.context.project_id,
            availability_zone='nova', host=self.host + '@demo#demo',
            attach_status='detached')
        volume.create()
        return volume

    def backup(self, volume, path, name, phase, parent=None):
        from cinder.db import api as db_api
        from cinder import objects
        from cinder.objects import fields
        from cinder import utils

        backup = objects.Backup(
            context=self.context, display_name=name,
            volume_id=volume.id, user_id=self.context.user_id,
            project_id=self.context.project_id,
            status=fields.BackupStatus.CREATING, size=volume.size,
            availability_zone='nova', host=self.host,
            service=self.driver_path, container=None,
            parent_id=parent.id if parent else None)
        backup.create()
        with open(path, 'rb') as f:
            counted = CountingFile(f, phase)
            updates = self.driver().backup(backup, utils.tpool_wrap(counted))
        with backup.as_read_deleted():
            backup.refresh()
        backup.status = fields.BackupStatus.AVAILABLE
        backup.size = volume.size
        if updates:
            backup.update(updates)
        backup.save()
        if parent:
            db_api.backup_add_dependent(self.context, parent.id)
        return backup

    def restore(self, backup, target_volume, path, phase):
        """Restore into ``path``, a new volume: zero-filled, full size."""
        from cinder.objects import fields
        from cinder import utils

        backup.status = fields.BackupStatus.RESTORING
        backup.restore_volume_id = target_volume.id
        backup.save()
        with open(path, 'r+b') as f:
            counted = CountingFile(f, phase)
            self.driver().restore(backup, target_volume.id,
                                  utils.tpool_wrap(counted), True)
        backup.status = fields.BackupStatus.AVAILABLE
        backup.restore_volume_id = None
        backup.save()
        target_volume.status = 'available'
        target_volume.save()
        return counted


# --- the demo ----------------------------------------------------------------

def _percent(part, whole):
    return 100.0 * part / whole if whole else 0.0


class Demo(object):

    def __init__(self, args, workdir, removed_afterwards=False, out=None):
        self.args = args
        self.workdir = workdir
        self.removed_afterwards = removed_afterwards
        self.out = out or sys.stdout
        self.size = args.size * MiB
        self.volume_path = os.path.join(workdir, 'volume.img')
        self.restored_path = os.path.join(workdir, 'restored.img')
        self.repository = os.path.join(workdir, 'repository')

    def say(self, text=''):
        self.out.write(text + '\n')
        self.out.flush()

    def phase(self, label, total):
        return progress.Phase(label, total, stream=self.out)

    def stored(self):
        return repository_usage(self.repository)

    def run(self):
        args = self.args
        conf_path = write_config(self.workdir, args.driver,
                                 args.compression, args.options)
        for sub in ('repository', 'state', 'locks'):
            os.makedirs(os.path.join(self.workdir, sub), exist_ok=True)
        conf = cmd_main.configure([conf_path], debug=args.debug)
        cinder = Cinder(args.driver)
        cinder.check_setup()

        self.say('driver       %s' % args.driver)
        self.say('compression  %s' % conf.backup_compression_algorithm)
        self.say('threads      %s' % (
            'eventlet (monkey patched, as cinder-backup)'
            if cmd_main.eventlet_active() else 'native'))
        self.say('work dir     %s%s' % (
            self.workdir,
            ' (removed at the end)' if self.removed_afterwards else ''))
        self.say()

        with self.phase('generate volume', self.size) as phase:
            generate_volume(self.volume_path, self.size, args.seed, phase)
            phase.finish(', '.join(CONTENT_KINDS) + ' quarters')
        volume = cinder.create_volume('demo-volume', self.size)

        with self.phase('full backup', self.size) as phase:
            full = cinder.backup(volume, self.volume_path, 'demo-full',
                                 phase)
            full_bytes, full_files = self.stored()
            phase.finish('stored %s' % progress.format_bytes(full_bytes))

        change_target = max(1, int(self.size * CHANGE_FRACTION))
        with self.phase('change 1%', change_target) as phase:
            changed, writes = change_volume(self.volume_path, self.size,
                                            args.seed, phase=phase)
            phase.total = changed
            phase.finish('%d scattered writes' % writes)

        with self.phase('incremental backup', self.size) as phase:
            incremental = cinder.backup(volume, self.volume_path,
                                        'demo-incremental', phase,
                                        parent=full)
            total_bytes, total_files = self.stored()
            incr_bytes = total_bytes - full_bytes
            phase.finish('stored %s' % progress.format_bytes(incr_bytes))

        target = cinder.create_volume('demo-restored', self.size,
                                      status='restoring-backup')
        with open(self.restored_path, 'wb') as f:
            f.truncate(self.size)
        with self.phase('restore incremental', self.size) as phase:
            counted = cinder.restore(incremental, target, self.restored_path,
                                     phase)
            phase.finish('wrote %s' % progress.format_bytes(
                counted.bytes_written))

        with self.phase('verify', self.size) as phase:
            mismatch = compare_files(self.volume_path, self.restored_path,
                                     phase=phase)
            phase.finish('byte for byte')

        self.say()
        self.say('volume       %s' % progress.format_bytes(self.size))
        self.say('changed      %s (%.1f%%) in %d writes' % (
            progress.format_bytes(changed), _percent(changed, self.size),
            writes))
        self.say('repository   full %s (%.1f%% of volume), incremental '
                 '%s (%.1f%%), %d files' % (
                     progress.format_bytes(full_bytes),
                     _percent(full_bytes, self.size),
                     progress.format_bytes(incr_bytes),
                     _percent(incr_bytes, self.size), total_files))
        self.say('total        %s stored for %s of volume data over two '
                 'backups (%.1f%%)' % (
                     progress.format_bytes(total_bytes),
                     progress.format_bytes(2 * self.size),
                     _percent(total_bytes, 2 * self.size)))
        return report_verification(mismatch, self.out)


def report_verification(mismatch, out=None):
    """Print the verdict; return the demo's exit code."""
    out = out or sys.stdout
    if mismatch is None:
        out.write('verification OK: the restored volume matches the changed '
                  'volume byte for byte\n')
        out.flush()
        return EXIT_OK
    sys.stderr.write('VERIFICATION FAILED: the restored volume differs from '
                     'the changed volume at offset %d (%s)\n'
                     % (mismatch.offset, mismatch.reason))
    sys.stderr.flush()
    return EXIT_FAILED


def _prepare_workdir(args):
    """Return (workdir, remove_afterwards)."""
    if args.workdir:
        workdir = os.path.abspath(args.workdir)
        if os.path.exists(workdir) and os.listdir(workdir):
            raise DemoError('work directory %s is not empty; give a new or '
                            'empty one' % workdir)
        os.makedirs(workdir, exist_ok=True)
        return workdir, False
    workdir = tempfile.mkdtemp(prefix='cinder-backup-ext-demo-')
    return workdir, not args.keep


def _check_space(workdir, size_bytes):
    # Volume, restored copy and a repository of at most about the
    # volume's size, plus slack for the database and the filesystem.
    need = 3 * size_bytes + 64 * MiB
    free = shutil.disk_usage(workdir).free
    if free < need:
        raise DemoError('%s has %s free, the demo needs about %s; use '
                        '--workdir elsewhere or a smaller --size'
                        % (workdir, progress.format_bytes(free),
                           progress.format_bytes(need)))


def run(args):
    if args.size < 4:
        sys.stderr.write('demo: --size must be at least 4 (MiB)\n')
        return EXIT_USAGE
    try:
        workdir, remove = _prepare_workdir(args)
    except (DemoError, OSError) as exc:
        sys.stderr.write('demo: %s\n' % exc)
        return EXIT_USAGE
    try:
        _check_space(workdir, args.size * MiB)
        return Demo(args, workdir, removed_afterwards=remove).run()
    except DemoError as exc:
        sys.stderr.write('demo: %s\n' % exc)
        return EXIT_USAGE
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        sys.stderr.write('demo failed: %s: %s\n'
                         % (type(exc).__name__, exc))
        return EXIT_FAILED
    finally:
        if remove:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            sys.stdout.write('kept         %s\n' % workdir)
