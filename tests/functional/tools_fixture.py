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

"""Repositories for the operator tools' tests, made by the real drivers.

The test process must not load Cinder's global configuration and database,
so everything Cinder does runs in child processes: this module is both the
test-side helper (ToolsEnvironment, which writes a cinder.conf and runs
children) and the child (``python -m tests.functional.tools_fixture``),
which plays cinder-backup's manager around a driver on a SQLite database
through cinder_backup_ext.devtools.harness: back up, restore, delete, import a
record, or set a status as a restarted cinder-backup would.
"""

import json
import os
import subprocess
import sys

from tests.functional import cli
from tests.functional import file_key_manager

OUR_DRIVER = 'cinder_backup_ext.drivers.posix.PosixBackupDriver'
CINDER_DRIVER = 'cinder.backup.drivers.posix.PosixBackupDriver'
# Small objects spread a few MiB over many files, so that damaging one is
# a small part of a backup and a killed backup leaves some behind.
OBJECT_SIZE = 256 * 1024


# --- the test side -----------------------------------------------------------

class ToolsEnvironment(object):
    """A work directory with a cinder.conf, a SQLite DB and a repository."""

    def __init__(self, test, workdir, encrypted=False, driver=OUR_DRIVER):
        from cinder_backup_ext.devtools import harness
        self.test = test
        self.workdir = workdir
        self.repository = os.path.join(workdir, 'repository')
        for sub in ('repository', 'state', 'locks', 'coordination'):
            os.makedirs(os.path.join(workdir, sub), exist_ok=True)
        self.config = harness.write_config(
            workdir, driver, options=[
                'backup_object_size=%d' % OBJECT_SIZE,
                # Cinder's driver then writes several objects per backup.
                'backup_file_size=%d' % (4 * OBJECT_SIZE),
                'backup_encryption_enabled=%s' % encrypted],
            key_manager=file_key_manager.CLASS_PATH)
        with open(self.config, 'a') as f:
            f.write('[file_key_manager]\npath = %s\n\n'
                    '[coordination]\nbackend_url = file://%s\n'
                    % (os.path.join(workdir, 'keys.json'),
                       os.path.join(workdir, 'coordination')))

    def child_command(self, action, *args):
        return [sys.executable, '-m', __name__, action, '--config',
                self.config] + list(args)

    def child(self, action, *args, timeout=300):
        """Run a child action; return its JSON result."""
        proc = subprocess.run(
            self.child_command(action, *args), cwd=cli.REPO_ROOT,
            env=cli_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, universal_newlines=True,
            timeout=timeout)
        if proc.returncode != 0:
            self.test.fail('%s failed (%d): %s' % (action, proc.returncode,
                                                   proc.stderr[-3000:]))
        return json.loads(proc.stdout.strip().splitlines()[-1])

    def start_child(self, action, *args):
        return subprocess.Popen(
            self.child_command(action, *args), cwd=cli.REPO_ROOT,
            env=cli_env(), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def backup(self, volume_path, parent=None, driver=None, volume=None,
               count=1):
        args = ['--volume', volume_path, '--count', str(count)]
        if parent:
            args += ['--parent', parent]
        if driver:
            args += ['--driver', driver]
        if volume:
            args += ['--volume-id', volume]
        return self.child('backup', *args)

    def tool(self, *args, timeout=300):
        """Run ``cinder-backup-ext`` with this environment's cinder.conf."""
        command = list(args[:1]) + ['--config-file', self.config] + \
            list(args[1:])
        return cli.run_command(self.test, *command, timeout=timeout)

    def tool_json(self, *args, expect=0):
        proc = self.tool(*(args + ('--format', 'json')))
        self.test.assertEqual(expect, proc.returncode, proc.stderr)
        return json.loads(proc.stdout)


def cli_env():
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [cli.REPO_ROOT] + [p for p in [env.get('PYTHONPATH')] if p])
    return env


def write_volume(path, size, seed):
    """A volume of random, text and zero regions, reproducible."""
    import random
    rng = random.Random(seed)
    quarter = size // 4
    with open(path, 'wb') as f:
        f.write(rng.randbytes(quarter))
        f.write((b'cinder-backup-ext tools %d\n' % seed) *
                (quarter // 26) + bytes(quarter % 26))
        f.write(bytes(quarter))
        f.write(rng.randbytes(size - 3 * quarter))


# --- the child side ----------------------------------------------------------

class _Hang(object):
    """A progress sink that stops the backup's volume reads at an offset,
    as a cinder-backup killed or paused mid-backup would."""

    def __init__(self, at, marker):
        self.at = at
        self.marker = marker

    def advance_to(self, done):
        if done >= self.at:
            from eventlet import patcher
            with open(self.marker, 'w') as f:
                f.write('%d\n' % done)
            # A native thread of tpool runs this: sleep natively, forever.
            while True:
                patcher.original('time').sleep(60)


def _is_our_backup(conf, backup):
    # Cinder's manager refuses to restore or delete a backup whose
    # `service` names another driver; use its own check.
    import types

    from cinder.backup import manager
    fake_manager = types.SimpleNamespace(driver_name=conf.backup_driver)
    if not manager.BackupManager._is_our_backup(fake_manager, backup):
        raise SystemExit('backup %s was made by %s; the configured driver '
                         'is %s' % (backup.id, backup.service,
                                    conf.backup_driver))


def _child(argv):
    import argparse

    from cinder_backup_ext.runtime import process
    process.monkey_patch(argv)
    parser = argparse.ArgumentParser()
    parser.add_argument('action')
    parser.add_argument('--config', required=True)
    parser.add_argument('--volume')
    parser.add_argument('--volume-id')
    parser.add_argument('--parent')
    parser.add_argument('--driver')
    parser.add_argument('--backup', action='append')
    parser.add_argument('--target')
    parser.add_argument('--record')
    parser.add_argument('--status')
    parser.add_argument('--count', type=int, default=1)
    parser.add_argument('--hang-at', type=int)
    parser.add_argument('--marker')
    args = parser.parse_args(argv)
    conf = process.configure([args.config])
    conf.import_opt('backup_driver', 'cinder.backup.manager')

    from cinder import objects
    from cinder_backup_ext.devtools import harness
    cinder = harness.Cinder(args.driver or conf.backup_driver)
    result = {}
    if args.action in ('backup', 'hang'):
        size = os.path.getsize(args.volume)
        if args.volume_id:
            volume = objects.Volume.get_by_id(cinder.context, args.volume_id)
        else:
            volume = cinder.create_volume('tools-volume', size)
        parent = (objects.Backup.get_by_id(cinder.context, args.parent)
                  if args.parent else None)
        phase = (_Hang(args.hang_at, args.marker) if args.action == 'hang'
                 else None)
        made = [cinder.backup(volume, args.volume, 'tools-backup', phase,
                              parent=parent).id for _ in range(args.count)]
        result = {'backup': made[0], 'backups': made, 'volume': volume.id}
    elif args.action == 'restore':
        backup = objects.Backup.get_by_id(cinder.context, args.backup[0])
        _is_our_backup(conf, backup)
        target = cinder.create_volume('tools-restored',
                                      os.path.getsize(args.target),
                                      status='restoring-backup')
        cinder.restore(backup, target, args.target)
    elif args.action == 'delete':
        for backup_id in args.backup:
            backup = objects.Backup.get_by_id(cinder.context, backup_id)
            _is_our_backup(conf, backup)
            cinder.driver().delete_backup(backup)
            backup.destroy()
    elif args.action == 'status':
        backup = objects.Backup.get_by_id(cinder.context, args.backup[0])
        backup.status = args.status
        backup.save()
    elif args.action == 'forget':
        # The record goes, the data stays: a backup unknown to the DB.
        objects.Backup.get_by_id(cinder.context, args.backup[0]).destroy()
    elif args.action == 'import':
        result = {'backup': _import(cinder, conf, args.record)}
    elif args.action == 'show':
        for backup_id in args.backup:
            backup = objects.Backup.get_by_id(cinder.context, backup_id)
            result[backup_id] = {'service': backup.service,
                                 'status': backup.status}
    print(json.dumps(result))
    return 0


def _import(cinder, conf, record):
    """What `cinder backup-import` does: Cinder's backup API creates (or
    revives) the record from the URL, the manager asks the driver to
    accept it and fills in the fields from the URL."""
    from cinder.backup import api as backup_api
    from cinder import objects
    backup = backup_api.API()._get_import_backup(cinder.context, record)
    options = objects.Backup.decode_record(record)
    driver_info = options.pop('driver_info', {})
    cinder.driver().import_record(backup, driver_info)
    for key in ('name', 'user_id', 'project_id', 'deleted_at', 'deleted',
                'fail_reason', 'status'):
        options.pop(key, None)
    options['service'] = conf.backup_driver
    backup.update(options)
    backup.status = 'available'
    backup.save()
    return backup.id


if __name__ == '__main__':
    sys.exit(_child(sys.argv[1:]))
