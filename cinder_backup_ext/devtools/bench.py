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

"""Benchmark: this library's POSIX driver against Cinder's, in one run.

The same generated volume is backed up in full, changed by 1%, backed up
incrementally and the incremental restored into a new volume, by Cinder's
cinder.backup.drivers.posix.PosixBackupDriver and by this library's
driver, with the same compression, in one process (eventlet monkey
patched, as cinder-backup runs, unless --no-eventlet).  Every operation
runs --repeat times, the order of the drivers reversed every other time
so that none always runs on a warmer cache, and the medians are reported:
seconds, MiB/s, the ratio Cinder / ours, CPU seconds, the peak resident
memory of the process and the bytes stored.  With --thin the volume is a
sparse file of that many GiB holding the generated data, and the
incremental is also restored onto an existing volume (the thin volume as
it was before the change).  The machine's own limits, measured in the
same run (reading the volume, writing and fsyncing a file, zstd on every
core), are printed with this library's throughput as a fraction of each.
"""

import collections
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
import traceback

from cinder_backup_ext.cmd import progress
from cinder_backup_ext.devtools import harness
from cinder_backup_ext.devtools import machine_limits
from cinder_backup_ext.devtools import rbd_volumes
from cinder_backup_ext.devtools import volumes

MiB = volumes.MiB
DEFAULT_SEED = 20240601
WARM_UP_MIB = 64
# Each machine limit is measured this many times, and the best kept.
LIMIT_RUNS = 3
# The images of --rbd-conf.
RBD_VOLUME = 'cinder-backup-ext-bench'
RBD_RESTORED = 'cinder-backup-ext-bench-restored'
DESCRIPTION = __doc__.split('\n\n', 1)[1]


class Variant(object):
    """A driver with its own repository and options."""

    def __init__(self, name, driver, options=None, baseline=False):
        self.name = name
        self.driver = driver
        self.options = dict(options or {})
        self.baseline = baseline
        self.backups = {}
        self.runs = collections.defaultdict(list)

    @property
    def results(self):
        """Per phase: median seconds and CPU over the repetitions, the
        highest peak RSS, and the bytes the first run stored."""
        summary = {}
        for phase, runs in self.runs.items():
            summary[phase] = {
                'seconds': statistics.median(r['seconds'] for r in runs),
                'cpu': statistics.median(r['cpu'] for r in runs),
                'peak_rss': max(r['peak_rss'] for r in runs),
                'stored': runs[0].get('stored'),
            }
        return summary


def add_arguments(parser):
    parser.add_argument('--size', type=int, default=1024, metavar='MIB',
                        help='volume size in MiB (default: %(default)s)')
    parser.add_argument('--compression', default='zstd',
                        metavar='ALGORITHM',
                        choices=harness.COMPRESSION_CHOICES,
                        type=harness.COMPRESSION_CHOICES.normalize,
                        help='backup_compression_algorithm for both drivers: '
                             '%(choices)s (default: %(default)s)')
    parser.add_argument('--only', choices=('all', 'ours', 'cinder'),
                        default='all',
                        help='run only one side, e.g. to measure the memory '
                             'of a large volume (default: %(default)s)')
    parser.add_argument('--repeat', type=int, default=3, metavar='N',
                        help='run every operation N times, alternating the '
                             'order of the drivers, and report medians '
                             '(default: %(default)s)')
    parser.add_argument('--set', action='append', default=[],
                        metavar='OPTION=VALUE', dest='options',
                        help='an option for this library\'s driver only, '
                             'e.g. backup_native_threads=4; may be repeated')
    parser.add_argument('--workdir', metavar='DIR',
                        help='directory to work in (default: a temporary '
                             'one, removed afterwards)')
    parser.add_argument('--seed', type=int, default=DEFAULT_SEED)
    parser.add_argument('--thin', type=int, metavar='GIB',
                        help='back up a sparse volume file of GIB GiB '
                             'holding the --size MiB of generated data in '
                             'pieces spread over it, and restore it onto '
                             'an existing volume too')
    parser.add_argument('--rbd-conf', metavar='CEPH_CONF',
                        help='back up a thin Ceph RBD image instead of a '
                             'file: an image of --rbd-size GiB in the '
                             'cluster of this ceph.conf holding the --size '
                             'MiB of generated data, read and written '
                             'through os-brick\'s RBD wrapper as '
                             'cinder-backup does; restores go to a new '
                             'image')
    parser.add_argument('--rbd-pool', default='volumes', metavar='POOL',
                        help='the pool of the images (default: '
                             '%(default)s)')
    parser.add_argument('--rbd-size', type=int, default=16, metavar='GIB',
                        help='size of the RBD image (default: '
                             '%(default)s)')


class RssSampler(object):
    """Peak resident memory of this process while an operation runs.

    A native thread reads /proc/self/statm every 20 ms; under
    eventlet the green threading module would only sample between
    operations.
    """

    PERIOD = 0.02

    def __init__(self):
        try:
            from eventlet import patcher
            self._threading = patcher.original('threading')
        except ImportError:
            import threading
            self._threading = threading
        self._page = os.sysconf('SC_PAGE_SIZE')

    def rss(self):
        with open('/proc/self/statm') as statm:
            return int(statm.read().split()[1]) * self._page

    def __enter__(self):
        self.peak = self.rss()
        self._stop = self._threading.Event()
        self._thread = self._threading.Thread(target=self._watch,
                                              daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        while not self._stop.wait(self.PERIOD):
            self.peak = max(self.peak, self.rss())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())
        return False


def _cpu_seconds():
    """User and system CPU time of this process, all threads: with the
    wall time it tells whether an operation waited on the CPU or on I/O."""
    times = os.times()
    return times.user + times.system


class Bench(object):
    def __init__(self, args, workdir, out=None):
        self.args = args
        self.workdir = workdir
        self.out = out or sys.stdout
        self.data_size = args.size * MiB
        self.size = self.data_size
        self.volume_path = os.path.join(workdir, 'volume.img')
        self.target_path = os.path.join(workdir, 'restored.img')
        # The generated data; for --thin, laid out over volume_path.
        self.data_path = self.volume_path
        self.before_path = None
        self.images = None
        self.limits = None
        if args.thin:
            self.size = args.thin * volumes.GiB
            self.data_path = os.path.join(workdir, 'data.img')
            self.before_path = os.path.join(workdir, 'data-before.img')
        if args.rbd_conf:
            self.images = rbd_volumes.ThinImages(args.rbd_conf,
                                                 args.rbd_pool)
            self.size = args.rbd_size * rbd_volumes.GiB
        options = harness.parse_options(args.options)
        variants = [
            Variant('cinder', harness.CINDER_DRIVER, baseline=True),
            Variant('ours', harness.DEFAULT_DRIVER, options),
            Variant('ours+aes', harness.DEFAULT_DRIVER,
                    dict(options, backup_encryption_enabled=True)),
        ]
        if args.only != 'all':
            variants = [v for v in variants
                        if v.name.split('+')[0] == args.only]
        self.variants = variants

    def say(self, text=''):
        self.out.write(text + '\n')
        self.out.flush()

    def _configure(self, cinder, variant, repository='repository-'):
        from oslo_config import cfg
        cfg.CONF.set_override('backup_posix_path', os.path.join(
            self.workdir, repository + variant.name))
        cfg.CONF.set_override('backup_compression_algorithm',
                              self.args.compression)
        cfg.CONF.set_override('backup_encryption_enabled', False)
        for name, value in variant.options.items():
            cfg.CONF.set_override(name, value)
        cinder.use_driver(variant.driver)
        cinder.check_setup()

    def _stored(self, variant):
        return volumes.repository_usage(os.path.join(
            self.workdir, 'repository-' + variant.name))[0]

    def _measure(self, variant, phase, operation):
        # Dirty pages of the previous operation would otherwise be written
        # back during this one and be charged to it.
        os.sync()
        with RssSampler() as sampler:
            rss_before = sampler.peak
            started = time.monotonic()
            cpu_before = _cpu_seconds()
            result = operation()
            cpu = _cpu_seconds() - cpu_before
            seconds = time.monotonic() - started
        variant.runs[phase].append({'seconds': seconds, 'cpu': cpu,
                                    'peak_rss': sampler.peak})
        self.say('  %-8s %-12s %7.2f s  %8.1f MiB/s  CPU %5.2f s  RSS %s '
                 'before, peak %s' % (
                     variant.name, phase, seconds, self.size / MiB / seconds,
                     cpu, progress.format_bytes(rss_before),
                     progress.format_bytes(sampler.peak)))
        return result

    @contextlib.contextmanager
    def _volume(self, name, path):
        """The volume file of the benchmark's volume or restore target:
        a path, or os-brick's wrapper of the RBD image."""
        if self.images is None:
            yield path
            return
        with self.images.volume_file(name) as volume_file:
            yield volume_file

    def _backup(self, cinder, volume, variant, phase, parent=None):
        self._configure(cinder, variant)
        before = self._stored(variant)
        with self._volume(RBD_VOLUME, self.volume_path) as source:
            backup = self._measure(variant, phase, lambda: cinder.backup(
                volume, source, phase, parent=parent))
        variant.runs[phase][-1]['stored'] = self._stored(variant) - before
        variant.backups[phase] = backup

    def _restore(self, cinder, variant, expected, phase='restore'):
        """Restore the incremental into a new volume, or for
        'restore-existing' onto the thin volume as it was before the
        change."""
        self._configure(cinder, variant)
        target = cinder.create_volume('restored', self.size,
                                      status='restoring-backup')
        if self.images is not None:
            self.images.create(RBD_RESTORED, self.size)
        elif phase == 'restore-existing':
            volumes.lay_out_sparse(self.before_path, self.target_path,
                                   self.size)
        else:
            with open(self.target_path, 'wb') as f:
                f.truncate(self.size)
        with self._volume(RBD_RESTORED, self.target_path) as restored:
            self._measure(variant, phase, lambda: cinder.restore(
                variant.backups['incremental'], target, restored,
                volume_is_new=phase == 'restore'))
        if self.images is not None:
            wrong = self.images.first_difference(RBD_VOLUME, RBD_RESTORED)
            self.images.remove(RBD_RESTORED)
            if wrong is not None:
                raise harness.HarnessError(
                    '%s restored a wrong image: it differs at offset %d'
                    % (variant.name, wrong))
            return
        compare = (volumes.compare_sparse if self.args.thin
                   else volumes.compare_files)
        mismatch = compare(expected, self.target_path)
        if mismatch is not None:
            raise harness.HarnessError(
                '%s restored a wrong volume: %s' % (variant.name,
                                                    mismatch.reason))
        os.unlink(self.target_path)

    def _lay_out(self):
        """The generated file as the RBD image or the thin volume file,
        when there is one."""
        if self.images is not None:
            self.images.lay_out(self.volume_path, RBD_VOLUME, self.size)
        elif self.args.thin:
            volumes.lay_out_sparse(self.data_path, self.volume_path,
                                   self.size)

    def run(self):
        from cinder_backup_ext.runtime import process
        conf_path = harness.write_config(
            self.workdir, harness.DEFAULT_DRIVER, self.args.compression,
            key_manager=harness.IN_MEMORY_KEY_MANAGER)
        for sub in ('state', 'locks'):
            os.makedirs(os.path.join(self.workdir, sub), exist_ok=True)
        process.configure([conf_path])
        cinder = harness.Cinder(harness.DEFAULT_DRIVER)
        self.say('volume       %s, a quarter each of %s' % (
            progress.format_bytes(self.data_size),
            ', '.join(volumes.CONTENT_KINDS)))
        if self.images is not None:
            self.say('             in pieces of %s spread over a thin RBD '
                     'image of %s (%s, pool %s); MiB/s of the image' % (
                         progress.format_bytes(rbd_volumes.PIECE),
                         progress.format_bytes(self.size),
                         self.args.rbd_conf, self.args.rbd_pool))
        self.say('compression  %s for both drivers' % self.args.compression)
        self.say('keys         ours+aes: one AES-256 key per backup from '
                 'castellan\'s in-memory key manager (no Barbican round '
                 'trips)')
        self.say('threads      %s, %d CPU cores' % (
            'eventlet (monkey patched, as cinder-backup)'
            if process.eventlet_active() else 'native', os.cpu_count()))
        self.say()
        if self.args.thin:
            self.say('             in pieces of %s spread over a sparse '
                     'file of %s; MiB/s of the whole volume' % (
                         progress.format_bytes(volumes.PIECE),
                         progress.format_bytes(self.size)))
            self.say()
        self._warm_up(cinder)
        volumes.generate_volume(self.data_path, self.data_size,
                                self.args.seed)
        self.limits = self._machine_limits()
        if self.images is not None:
            self.images.create(RBD_VOLUME, self.size)
        self._lay_out()
        if self.before_path:
            shutil.copyfile(self.data_path, self.before_path)
        volume = cinder.create_volume('bench', self.size)
        for order in self._orders():
            for variant in order:
                self._backup(cinder, volume, variant, 'full')
        volumes.change_volume(self.data_path, self.data_size,
                              self.args.seed)
        self._lay_out()
        for order in self._orders():
            for variant in order:
                self._backup(cinder, volume, variant, 'incremental',
                             parent=variant.backups['full'])
        for phase in self._phases()[2:]:
            for order in self._orders():
                for variant in order:
                    self._restore(cinder, variant, self.volume_path, phase)
        self.report()
        return 0

    def _phases(self):
        return ('full', 'incremental', 'restore') + (
            ('restore-existing',) if self.args.thin else ())

    def _machine_limits(self):
        """The machine's own rates, on the generated data: reading it,
        writing and fsyncing as many bytes as it holds data, and zstd on
        every core."""
        with open(self.data_path, 'rb') as f:
            # Its first piece is random data (the generator's first
            # quarter), which no file system stores specially.
            sample = f.read(machine_limits.PIECE)
            written = sum(end - start for start, end in
                          volumes.data_ranges(f.fileno(), self.data_size))
        os.sync()
        # The best of three: a limit is what the machine can do, and a
        # single write+fsync on a virtual disk varies by a factor of two.
        limits = collections.OrderedDict([
            ('read of the volume', max(
                machine_limits.read_rate(self.data_path)
                for _ in range(LIMIT_RUNS))),
            ('write+fsync of %s' % progress.format_bytes(written), max(
                machine_limits.write_fsync_rate(self.workdir, written,
                                                sample)
                for _ in range(LIMIT_RUNS))),
            ('zstd on %d cores' % (os.cpu_count() or 1), max(
                machine_limits.zstd_rate(self.data_path, self.data_size)
                for _ in range(LIMIT_RUNS))),
        ])
        self.written = written
        self.say('machine limits, measured now (best of %d):' % LIMIT_RUNS)
        for name, rate in limits.items():
            self.say('  %-28s %8.1f MiB/s' % (name, rate))
        self.say()
        return limits

    def _orders(self):
        """The drivers' order for each repetition: reversed every other
        time, so that none always runs on the warmest cache."""
        for repetition in range(self.args.repeat):
            yield (self.variants if repetition % 2 == 0
                   else list(reversed(self.variants)))

    def _warm_up(self, cinder):
        """Each driver backs up and restores a small volume, untimed.

        cinder-backup is a long-running service: first-use costs (imports,
        thread pools, memory arenas the process grows once) are not what
        one backup costs, and would otherwise land on whichever driver
        happens to run first.
        """
        path = os.path.join(self.workdir, 'warm-up.img')
        size = WARM_UP_MIB * MiB
        volumes.generate_volume(path, size, self.args.seed)
        volume = cinder.create_volume('warm-up', size)
        for variant in self.variants:
            self._configure(cinder, variant, repository='warm-up-')
            backup = cinder.backup(volume, path, 'warm-up')
            target = cinder.create_volume('warm-up-target', size,
                                          status='restoring-backup')
            with open(self.target_path, 'wb') as f:
                f.truncate(size)
            cinder.restore(backup, target, self.target_path)
        os.unlink(path)
        os.unlink(self.target_path)

    def _encryption_cost(self):
        by_name = {v.name: v for v in self.variants}
        plain, sealed = by_name.get('ours'), by_name.get('ours+aes')
        if plain is None or sealed is None:
            return
        costs = ', '.join(
            '%s %+.0f%%' % (phase, 100.0 * (
                sealed.results[phase]['seconds'] /
                plain.results[phase]['seconds'] - 1))
            for phase in self._phases())
        self.say('encryption costs (ours+aes against ours): %s' % costs)

    def _fractions(self):
        """This library's throughput on the generated data, as a fraction
        of each machine limit; a restore's against writing and fsyncing
        the bytes it writes."""
        ours = next((v for v in self.variants if v.name == 'ours'), None)
        if ours is None or not self.limits:
            return
        read, write, zstd = list(self.limits.values())
        self.say()
        self.say('ours against the machine (MiB/s of the generated data):')
        for phase in self._phases():
            seconds = ours.results[phase]['seconds']
            if phase.startswith('restore'):
                rate = self.written / MiB / seconds
                self.say('  %-16s %8.1f MiB/s written: %3.0f%% of '
                         'write+fsync' % (phase, rate, 100 * rate / write))
                continue
            rate = self.data_size / MiB / seconds
            self.say('  %-16s %8.1f MiB/s: %3.0f%% of the read, %3.0f%% of '
                     'zstd' % (phase, rate, 100 * rate / read,
                               100 * rate / zstd))

    def report(self):
        self.say()
        self.say('%-12s %-8s %9s %11s %13s %9s %11s %12s' % (
            'phase', 'driver', 'seconds', 'MiB/s', 'Cinder/ours', 'CPU s',
            'peak RSS', 'stored'))
        baseline = next((v for v in self.variants if v.baseline), None)
        for phase in self._phases():
            for variant in self.variants:
                result = variant.results[phase]
                ratio = ''
                if baseline is not None and not variant.baseline:
                    ratio = '%.2fx' % (
                        baseline.results[phase]['seconds'] /
                        result['seconds'])
                stored = result.get('stored')
                self.say('%-12s %-8s %9.2f %11.1f %13s %9.2f %11s %12s' % (
                    phase, variant.name, result['seconds'],
                    self.size / MiB / result['seconds'], ratio,
                    result['cpu'],
                    progress.format_bytes(result['peak_rss']),
                    '' if stored is None else progress.format_bytes(stored)))
        self._encryption_cost()
        self._fractions()


def run(args):
    workdir = args.workdir or tempfile.mkdtemp(
        prefix='cinder-backup-ext-bench-')
    os.makedirs(workdir, exist_ok=True)
    bench = None
    try:
        bench = Bench(args, workdir)
        return bench.run()
    except harness.HarnessError as error:
        sys.stderr.write('bench: %s\n' % error)
        return 1
    except Exception as error:
        if args.debug:
            traceback.print_exc()
        sys.stderr.write('bench failed: %s: %s\n'
                         % (type(error).__name__, error))
        return 1
    finally:
        if bench is not None and bench.images is not None:
            bench.images.remove(RBD_VOLUME)
            bench.images.close()
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
