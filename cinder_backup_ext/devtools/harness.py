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

"""Just enough of cinder-backup around a backup driver, on a real DB.

Owns a throwaway Cinder configuration (SQLite database, fake message
transport, noop notifications), the volume and backup records, and calls
into a driver the way cinder-backup's manager does.  Used by the demo and
the benchmark; it must not reach into a driver's internals, so any class
with Cinder's BackupDriver API can be run.  Cinder is imported inside the
functions that use it, so that importing this module sets nothing up.
"""

import collections.abc
import contextlib
import importlib
import logging
import os
import socket
import warnings

from cinder_backup_ext.runtime import process

GiB = 1024 * 1024 * 1024
DEFAULT_DRIVER = 'cinder_backup_ext.drivers.posix.PosixBackupDriver'
CINDER_DRIVER = 'cinder.backup.drivers.posix.PosixBackupDriver'
# castellan's in-memory key manager, so that encrypted backups (one key per
# backup) run without a Barbican; Barbican adds a fixed round trip per
# backup, not a cost per byte.
IN_MEMORY_KEY_MANAGER = (
    'castellan.tests.unit.key_manager.mock_key_manager.MockKeyManager')


class CountingFile(object):
    """A volume file proxy that reports its position to a progress phase
    (if it is given one).

    Progress follows the highest offset reached, not bytes moved, because
    a restore to a new volume seeks over zero ranges instead of writing
    them.  It runs inside tpool's native threads, so it must not log.
    """

    def __init__(self, fileobj, phase=None):
        self._file = fileobj
        self._phase = phase
        self.bytes_read = 0
        self.bytes_written = 0

    def _moved(self):
        if self._phase is not None:
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
        # A seek to the end asks the volume's size; it is no progress.
        if whence != os.SEEK_END:
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


class OptionChoices(collections.abc.Sequence):
    """The values a Cinder option accepts, as argparse choices.

    Taken from the option itself, so that a command refuses on its command
    line (argparse's usage error, exit 2) what cinder-backup would refuse
    in cinder.conf, with no second list to keep in step.  The option's
    module is imported on first use only: every subcommand's parser is
    built for each run, and importing a Cinder driver module costs a
    second that ``--help`` should not pay.
    """

    def __init__(self, module, opts, name):
        # opts: the module's list of oslo.config options holding it.
        self.module = module
        self.opts = opts
        self.name = name

    def _type(self):
        opts = getattr(importlib.import_module(self.module), self.opts)
        for opt in opts:
            if opt.name == self.name:
                return opt.type
        raise LookupError('no option %s in %s.%s'
                          % (self.name, self.module, self.opts))

    def __getitem__(self, index):
        return list(self._type().choices)[index]

    def __len__(self):
        return len(self._type().choices)

    def normalize(self, value):
        """argparse's type=: the option's own case rule."""
        return value.lower() if self._type().ignore_case else value


# --compression of the demo and the benchmark.
COMPRESSION_CHOICES = OptionChoices(
    'cinder.backup.chunkeddriver', 'backup_opts',
    'backup_compression_algorithm')


class HarnessError(Exception):
    """A failure with a message for the person running the command."""


def parse_options(options):
    """--set OPTION=VALUE arguments as a dict."""
    parsed = {}
    for option in options:
        name, sep, value = option.partition('=')
        if not sep or not name.strip():
            raise HarnessError('--set needs OPTION=VALUE, got %r' % option)
        parsed[name.strip()] = value.strip()
    return parsed


def write_config(workdir, driver, compression=None, options=(),
                 key_manager=None):
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
    for name, value in parse_options(options).items():
        lines.append('%s = %s' % (name, value))
    lines += [
        '',
        '[database]',
        'connection = sqlite:///%s' % os.path.join(workdir, 'cinder.sqlite'),
        '',
        '[oslo_messaging_notifications]',
        'driver = noop',
        '',
        '[key_manager]',
        'backend = %s' % key_manager if key_manager else '',
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
    try:
        return process.load_class(path)
    except ImportError as exc:
        hint = ''
        if path == DEFAULT_DRIVER:
            hint = '; --driver %s runs Cinder\'s own driver' % CINDER_DRIVER
        raise HarnessError('%s%s' % (exc, hint))


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
        # The in-memory key manager is named by class path, not by a
        # stevedore entry point; castellan says so at length, once.
        for name in ('stevedore.named', 'castellan.key_manager'):
            logging.getLogger(name).setLevel(logging.ERROR)
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

    def use_driver(self, driver_path):
        """Run the following operations with another driver class."""
        self.driver_class = load_class(driver_path)
        self.driver_path = driver_path

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

    @staticmethod
    @contextlib.contextmanager
    def _volume_file(source, mode, phase):
        """A path opened as cinder-backup opens a volume, with its moves
        counted; any other source (os-brick's RBD wrapper, say) as it
        is."""
        if not isinstance(source, str):
            yield source
            return
        with open(source, mode) as f:
            yield CountingFile(f, phase)

    def backup(self, volume, path, name, phase=None, parent=None):
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
        with self._volume_file(path, 'rb', phase) as volume_file:
            updates = self.driver().backup(backup,
                                           utils.tpool_wrap(volume_file))
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

    def restore(self, backup, target_volume, path, phase=None,
                volume_is_new=True):
        """Restore into ``path``: a new volume (zero-filled, full size),
        or with volume_is_new False one whose old data must go."""
        from cinder.objects import fields
        from cinder import utils

        backup.status = fields.BackupStatus.RESTORING
        backup.restore_volume_id = target_volume.id
        backup.save()
        with self._volume_file(path, 'r+b', phase) as volume_file:
            self.driver().restore(backup, target_volume.id,
                                  utils.tpool_wrap(volume_file),
                                  volume_is_new)
        backup.status = fields.BackupStatus.AVAILABLE
        backup.restore_volume_id = None
        backup.save()
        target_volume.status = 'available'
        target_volume.save()
        return volume_file
