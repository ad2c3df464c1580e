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

import os
import shutil
import sys
import tempfile
import traceback

from cinder_backup_ext.cmd import progress
from cinder_backup_ext.devtools import harness
from cinder_backup_ext.devtools import volumes
from cinder_backup_ext.runtime import process

DESCRIPTION = (
    'Generate a volume (a quarter each of random data, zeros, text and '
    'patterns with sparse regions), back it up, change 1% of it, back it '
    'up incrementally, restore the incremental into a new volume and '
    'compare it byte for byte with the changed volume. The driver runs as '
    'under cinder-backup: eventlet monkey patched, tpool-wrapped volume '
    'file, Cinder\'s database layer on a throwaway SQLite file. Needs no '
    'cloud, no root and no network. Exits 1 if the restored volume differs.')

MiB = progress.MiB

DEFAULT_DRIVER = harness.DEFAULT_DRIVER
CINDER_DRIVER = harness.CINDER_DRIVER
DEFAULT_SIZE_MIB = 1024
DEFAULT_SEED = 20240601

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


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
                        choices=harness.COMPRESSION_CHOICES,
                        type=harness.COMPRESSION_CHOICES.normalize,
                        help='backup_compression_algorithm: %(choices)s '
                             '(default: the driver\'s default)')
    parser.add_argument('--set', action='append', default=[],
                        metavar='OPTION=VALUE', dest='options',
                        help='an extra [DEFAULT] option for the generated '
                             'cinder.conf, e.g. backup_native_threads=4; '
                             'may be repeated')
    parser.add_argument('--seed', type=int, default=DEFAULT_SEED,
                        help='seed of the generated content and changes')


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
        return volumes.repository_usage(self.repository)

    def run(self):
        args = self.args
        conf_path = harness.write_config(
            self.workdir, args.driver, args.compression, args.options,
            key_manager=harness.IN_MEMORY_KEY_MANAGER)
        for sub in ('repository', 'state', 'locks'):
            os.makedirs(os.path.join(self.workdir, sub), exist_ok=True)
        process.configure([conf_path], debug=args.debug)
        cinder = harness.Cinder(args.driver)
        cinder.check_setup()

        self.say('driver       %s' % args.driver)
        self.say('compression  %s' % (
            args.compression or "the driver's default (this library's "
            "drivers: zstd; Cinder's: zlib)"))
        self.say('threads      %s' % (
            'eventlet (monkey patched, as cinder-backup)'
            if process.eventlet_active() else 'native'))
        self.say('work dir     %s%s' % (
            self.workdir,
            ' (removed at the end)' if self.removed_afterwards else ''))
        self.say()

        with self.phase('generate volume', self.size) as phase:
            volumes.generate_volume(self.volume_path, self.size, args.seed,
                                    phase)
            phase.finish(', '.join(volumes.CONTENT_KINDS) + ' quarters')
        volume = cinder.create_volume('demo-volume', self.size)

        with self.phase('full backup', self.size) as phase:
            full = cinder.backup(volume, self.volume_path, 'demo-full',
                                 phase)
            full_bytes, full_files = self.stored()
            phase.finish('stored %s' % progress.format_bytes(full_bytes))

        change_target = max(1, int(self.size * volumes.CHANGE_FRACTION))
        with self.phase('change 1%', change_target) as phase:
            changed, writes = volumes.change_volume(
                self.volume_path, self.size, args.seed, phase=phase)
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
            cinder.restore(incremental, target, self.restored_path, phase)
            # The driver writes by descriptor, past the file object the
            # harness counts: what the file system allocated is what was
            # written, zeros having been skipped.
            phase.finish('wrote %s, zeros left as holes' % (
                progress.format_bytes(
                    os.stat(self.restored_path).st_blocks * 512)))

        with self.phase('verify', self.size) as phase:
            mismatch = volumes.compare_files(
                self.volume_path, self.restored_path, phase=phase)
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
            raise harness.HarnessError(
                'work directory %s is not empty; give a new or empty one'
                % workdir)
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
        raise harness.HarnessError(
            '%s has %s free, the demo needs about %s; use --workdir '
            'elsewhere or a smaller --size'
            % (workdir, progress.format_bytes(free),
               progress.format_bytes(need)))


def run(args):
    if args.size < 4:
        sys.stderr.write('demo: --size must be at least 4 (MiB)\n')
        return EXIT_USAGE
    try:
        workdir, remove = _prepare_workdir(args)
    except (harness.HarnessError, OSError) as exc:
        sys.stderr.write('demo: %s\n' % exc)
        return EXIT_USAGE
    try:
        _check_space(workdir, args.size * MiB)
        return Demo(args, workdir, removed_afterwards=remove).run()
    except harness.HarnessError as exc:
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
