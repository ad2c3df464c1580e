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

"""TEST-ONLY: one cinder-backup host running the POSIX driver, in a child.

Drives PosixBackupDriver the way cinder-backup does (eventlet monkey
patched, tpool-wrapped volume file, Cinder's database layer on an SQLite
file of the host's own) through the steps of a JSON spec, and prints one
JSON line per event on stdout, flushed at once: a step may be killed with
SIGKILL half-way, and what was printed before must survive it.

A step may carry ``crash_at``: the process then SIGKILLs itself just before
the crash_at-th file system call that the repository's storage layer makes
during that step (opens, writes, fsyncs, renames, unlinks, mkdirs,
rmdirs...).  Counting calls instead of waiting a random time makes every
crash point reproducible from the test's seed.  A step without crash_at
reports how many such calls it made, so the test can choose points within
the range of a step.

    python -m tests.functional.reliability.posix_host SPEC.json

With ``--serve`` it runs the steps of each JSON line read from stdin
instead, each line in a child forked from this process, and prints
``{"event": "run-end", ...}`` with the child's exit status after it: the
crash tests kill a host many times, and importing and setting up Cinder
once instead of for every crash keeps them fast.  The child starts
Cinder's native worker threads itself (nothing has used tpool before the
fork) and eventlet's poll hub keeps no kernel state that parent and child
would share.
"""

import itertools
import json
import os
import signal
import sys
import traceback

from tests import checksums

DRIVER = 'cinder_backup_ext.drivers.posix.PosixBackupDriver'

# The storage layer's calls that change or read the repository; a crash
# between any two of them is a state a real crash can leave.
COUNTED_CALLS = frozenset([
    'open', 'write', 'fsync', 'close', 'rename', 'replace', 'unlink',
    'mkdir', 'makedirs', 'rmdir', 'chmod', 'fchmod', 'stat', 'lstat'])


def emit(**event):
    sys.stdout.write(json.dumps(event, sort_keys=True) + '\n')
    sys.stdout.flush()


class CrashingOs(object):
    """Stands in for the os module of the storage layer: counts its calls
    and kills the process at the chosen one."""

    def __init__(self, real_os):
        self._os = real_os
        self._counter = itertools.count(1)
        self.calls = 0
        self.crash_at = None

    def arm(self, crash_at):
        self._counter = itertools.count(1)
        self.calls = 0
        self.crash_at = crash_at

    def __getattr__(self, name):
        value = getattr(self._os, name)
        if name not in COUNTED_CALLS:
            return value

        def counted(*args, **kwargs):
            # next() on itertools.count is atomic under the GIL, so the
            # native worker threads count without a lock.
            number = next(self._counter)
            self.calls = max(self.calls, number)
            if self.crash_at is not None and number >= self.crash_at:
                emit(event='crash', call=number, name=name)
                os.kill(os.getpid(), signal.SIGKILL)
            return value(*args, **kwargs)
        return counted


def configure(spec):
    from cinder_backup_ext.devtools import harness
    from cinder_backup_ext.runtime import process

    workdir = spec['workdir']
    options = ['%s=%s' % item for item in sorted(spec['options'].items())]
    conf_path = harness.write_config(workdir, DRIVER,
                                     spec.get('compression', 'zstd'),
                                     options)
    for sub in ('state', 'locks'):
        os.makedirs(os.path.join(workdir, sub), exist_ok=True)
    process.configure([conf_path])
    return harness


class Host(object):
    def __init__(self, harness):
        from cinder import objects
        from cinder.objects import fields
        from cinder import utils
        from cinder_backup_ext.storage import posix as posix_store

        self.objects = objects
        self.fields = fields
        self.utils = utils
        self.cinder = harness.Cinder(DRIVER)
        self.crashing = CrashingOs(os)
        posix_store.os = self.crashing

    def backup_record(self, volume, parent_id):
        backup = self.objects.Backup(
            context=self.cinder.context, display_name='backup',
            volume_id=volume.id, user_id=self.cinder.context.user_id,
            project_id=self.cinder.context.project_id,
            status=self.fields.BackupStatus.CREATING, size=volume.size,
            availability_zone='nova', host=self.cinder.host, service=DRIVER,
            container=None, parent_id=parent_id)
        backup.create()
        return backup

    def volume(self, step):
        volume_id = step.get('volume_id')
        if volume_id:
            return self.objects.Volume.get_by_id(self.cinder.context,
                                                 volume_id)
        volume = self.cinder.create_volume(
            'vol', os.path.getsize(step['volume']))
        emit(event='volume', volume_id=volume.id)
        return volume

    def get(self, backup_id):
        return self.objects.Backup.get_by_id(self.cinder.context, backup_id)

    def step_backup(self, step, result):
        volume = self.volume(step)
        backup = self.backup_record(volume, step.get('parent_id'))
        result['backup_id'] = backup.id
        emit(event='created', backup_id=backup.id, step=step.get('name'))
        with open(step['volume'], 'rb') as f:
            self.cinder.driver().backup(backup, self.utils.tpool_wrap(f))
        backup.refresh()
        backup.status = self.fields.BackupStatus.AVAILABLE
        backup.save()

    def step_restore(self, step, result):
        backup = self.get(step['backup_id'])
        backup.status = self.fields.BackupStatus.RESTORING
        backup.save()
        target = step['target']
        with open(target, 'wb') as f:
            f.truncate(step['size'])
        volume = self.cinder.create_volume('target', step['size'],
                                           status='restoring-backup')
        try:
            with open(target, 'r+b') as f:
                self.cinder.driver().restore(backup, volume.id,
                                             self.utils.tpool_wrap(f), True)
        finally:
            backup.status = self.fields.BackupStatus.AVAILABLE
            backup.save()
        result['sha256'] = checksums.sha256_file(target)
        os.unlink(target)

    def step_delete(self, step, result):
        backup = self.get(step['backup_id'])
        backup.status = self.fields.BackupStatus.DELETING
        backup.save()
        self.cinder.driver().delete_backup(backup)
        backup.destroy()

    def step_set_status(self, step, result):
        """What cinder-backup does to a backup it finds half-made at
        start-up: mark it failed."""
        backup = self.get(step['backup_id'])
        backup.status = step['status']
        backup.save()

    def step_parallel(self, step, result):
        """Sub-steps in green threads at once, as cinder-backup serves
        concurrent requests; their pipelines overlap on native threads."""
        import eventlet
        made = self.made
        threads = [eventlet.spawn(self.run, sub, made)
                   for sub in step['steps']]
        failed = [sub['name'] for sub, thread in zip(step['steps'], threads)
                  if not thread.wait()]
        if failed:
            raise RuntimeError('parallel steps failed: %s' % failed)

    def resolve(self, step, made):
        """Steps may name a backup made earlier in the same run:
        ``parent_id_from`` / ``backup_id_from`` give that step's name."""
        step = dict(step)
        for key in ('parent_id', 'backup_id'):
            source = step.pop(key + '_from', None)
            if source is not None:
                step[key] = made[source]
        return step

    def run(self, step, made):
        self.made = made
        step = self.resolve(step, made)
        result = {'event': 'step', 'op': step['op'],
                  'name': step.get('name')}
        self.crashing.arm(step.get('crash_at'))
        try:
            getattr(self, 'step_' + step['op'])(step, result)
            result['ok'] = True
        except Exception as error:
            result['ok'] = False
            result['error_type'] = type(error).__name__
            result['error'] = str(error)
            result['traceback'] = traceback.format_exc()
        finally:
            result['calls'] = self.crashing.calls
            self.crashing.arm(None)
        if result.get('backup_id') and step.get('name'):
            made[step['name']] = result['backup_id']
        emit(**result)
        return result['ok']


def run_steps(host, steps):
    made = {}
    for step in steps:
        if not host.run(step, made) and step.get('stop_on_error', True):
            return 1
    return 0


def serve(host):
    """Fork a child for each line of steps read from stdin."""
    emit(event='ready')
    for line in sys.stdin:
        if not line.strip():
            continue
        steps = json.loads(line)['steps']
        pid = os.fork()
        if pid == 0:
            code = 2
            try:
                code = run_steps(host, steps)
            finally:
                sys.stdout.flush()
                os._exit(code)
        _pid, status = _original_os().waitpid(pid, 0)
        emit(event='run-end',
             exit=os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
             signal=os.WTERMSIG(status) if os.WIFSIGNALED(status) else None)
    return 0


def _original_os():
    # A plain blocking wait: the parent has nothing else to run, and must
    # not touch the eventlet hub its child inherited.
    from eventlet import patcher
    return patcher.original('os')


def main(argv):
    serving = argv[0] == '--serve'
    if serving:
        argv = argv[1:]
        os.environ['EVENTLET_HUB'] = 'poll'
    with open(argv[0]) as f:
        spec = json.load(f)
    from cinder_backup_ext.runtime import process
    process.monkey_patch([])
    host = Host(configure(spec))
    if serving:
        return serve(host)
    return run_steps(host, spec['steps'])


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
