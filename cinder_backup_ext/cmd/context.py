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

"""What the operator tools share: cinder.conf, the database, the driver.

Owns loading the operator's configuration, Cinder's database records of
backups and their chains, the configured driver and its store (for NFS the
driver mounts the share itself), the backups' keys, Cinder's coordination
lock, the exit codes and the output helpers.  It holds no engine logic:
reading and verifying stored data is Repository's and LegacyBackups' job.
Cinder is imported inside functions, after the command's eventlet monkey
patching.
"""

import contextlib
import json
import re
import sys

from cinder_backup_ext.runtime import process

DEFAULT_CONFIG = '/etc/cinder/cinder.conf'

# Exit codes of every operator tool (documented in doc/source/tools.rst).
EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_LOCKED = 3

# Backups that a driver may be writing or reading right now.
BUSY_STATUSES = ('creating', 'restoring', 'deleting')

_DURATION = re.compile(r'^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$')
_SECONDS = {'': 1, 's': 1, 'm': 60, 'h': 3600, 'd': 86400, 'w': 604800}


class ToolError(Exception):
    """A failure with a message for the operator and an exit code."""

    def __init__(self, message, exit_code=EXIT_USAGE):
        super().__init__(message)
        self.exit_code = exit_code


def parse_duration(text):
    """'90s', '15m', '24h', '7d', '2w' or plain seconds -> seconds."""
    match = _DURATION.match(text or '')
    if not match:
        raise ValueError('not a duration: %r (use e.g. 30m, 24h, 7d)' % text)
    return float(match.group(1)) * _SECONDS[match.group(2)]


def add_config_argument(parser):
    parser.add_argument('--config-file', action='append',
                        dest='config_files', metavar='PATH',
                        help='the cinder.conf of the backup service: '
                             'backup_driver, the repository options, '
                             '[database] connection, [key_manager], '
                             '[coordination] (default: %s); repeat it to '
                             'add files whose options override earlier '
                             'ones, such as the key manager credentials '
                             'of the tools' % DEFAULT_CONFIG)


def add_format_argument(parser):
    parser.add_argument('--format', choices=('text', 'json'),
                        default='text',
                        help='json prints one JSON document on stdout, for '
                             'monitoring (default: %(default)s)')


def print_json(document, out=None):
    out = out or sys.stdout
    json.dump(document, out, indent=2, sort_keys=True)
    out.write('\n')
    out.flush()


def error_reason(error):
    """(object, reason) of an engine error, for a report."""
    kwargs = getattr(error, 'kwargs', None) or {}
    if 'object' in kwargs and 'reason' in kwargs:
        return kwargs['object'], str(kwargs['reason'])
    if 'key_id' in kwargs:
        return 'key %s' % kwargs['key_id'], str(kwargs.get('reason', error))
    return None, str(error)


class Tools(object):
    """The operator's Cinder configuration, database and driver."""

    def __init__(self, config_files, debug=False):
        import os
        config_files = list(config_files or [DEFAULT_CONFIG])
        for config_file in config_files:
            if not os.path.isfile(config_file):
                raise ToolError('configuration file %s does not exist; '
                                'give the backup service\'s cinder.conf '
                                'with --config-file' % config_file)
        self.conf = process.configure(config_files, debug=debug)
        from oslo_log import log as logging
        # stdout carries the report (JSON for monitoring); oslo.log writes
        # to stdout unless told otherwise.
        self.conf.set_override('use_stderr', True)
        logging.setup(self.conf, 'cinder')
        if not debug:
            import logging as std_logging
            std_logging.getLogger().setLevel(std_logging.WARNING)
        from cinder import context
        from cinder_backup_ext.drivers import chunked
        from cinder_backup_ext.repository import repository

        # Cinder registers backup_driver in its backup manager's module.
        self.conf.import_opt('backup_driver', 'cinder.backup.manager')
        self.context = context.get_admin_context()
        self._log_in_to_key_manager()
        self.driver_path = self.conf.backup_driver
        try:
            driver_class = process.load_class(self.driver_path)
        except ImportError as error:
            raise ToolError('backup_driver: %s' % error)
        if not issubclass(driver_class, chunked.ChunkedBackupDriver):
            raise ToolError(
                'backup_driver is %s; these tools work with the drivers of '
                'cinder_backup_ext (e.g. cinder_backup_ext.drivers.posix.'
                'PosixBackupDriver)' % self.driver_path)
        self.driver = driver_class(self.context)
        self.driver.check_for_setup_error()
        self.store = self.driver.store
        self.repo = repository.Repository(self.store)
        self.threads = self.conf.backup_native_threads
        self._coordinator = None

    def _log_in_to_key_manager(self):
        """Give the tools' context a token for the key manager.

        cinder-backup reads a backup's key with its owner's token, which
        comes with each request; the tools have no request.  With
        castellan's credential options in [key_manager] (auth_type =
        keystone_password, auth_url, username, password, project_name,
        ...) they log in to Keystone with them, and the keys of every
        project that user may read are reachable (an admin's project's,
        or all with a system reader in Barbican's new policies).
        """
        from castellan.common import utils as castellan_utils
        self.conf.register_opts(castellan_utils.credential_opts,
                                group='key_manager')
        options = self.conf.key_manager
        if options.auth_type != 'keystone_password':
            if options.auth_type:
                raise ToolError('[key_manager] auth_type = %s: the tools '
                                'log in with keystone_password'
                                % options.auth_type)
            return
        from keystoneauth1.identity import v3
        from keystoneauth1 import session
        auth = v3.Password(
            auth_url=options.auth_url, username=options.username,
            user_id=options.user_id, password=options.password,
            user_domain_id=options.user_domain_id,
            user_domain_name=options.user_domain_name,
            project_id=options.project_id,
            project_name=options.project_name,
            project_domain_id=options.project_domain_id,
            project_domain_name=options.project_domain_name)
        login = session.Session(auth=auth)
        try:
            self.context.auth_token = login.get_token()
            self.context.project_id = login.get_project_id()
        except Exception as error:
            raise ToolError('cannot log in to Keystone at [key_manager] '
                            'auth_url = %s as %s: %s'
                            % (options.auth_url, options.username, error),
                            EXIT_PROBLEMS)

    # --- the repository ---------------------------------------------------

    def root(self):
        """The repository's directory on this host.

        For NFS the first store operation mounts the share at the driver's
        mount point; a probe of a name that never exists does that without
        listing or writing anything.
        """
        from cinder_backup_ext.nfs.share_marker import MARKER_NAME
        self.store.exists('.', MARKER_NAME)
        return self.driver.backup_path

    def location(self, backup, keyring=None):
        from cinder_backup_ext.repository import repository
        return repository.BackupLocation.of_record(backup, keyring)

    def keyring(self):
        from cinder_backup_ext.sealing import keys
        return keys.KeyRing(self.context)

    def workers(self):
        from cinder_backup_ext.runtime import concurrency
        return concurrency.NativeWorkers(self.threads)

    # --- the database -----------------------------------------------------

    def backup(self, backup_id):
        from cinder import exception
        from cinder import objects
        try:
            return objects.Backup.get_by_id(self.context, backup_id)
        except exception.BackupNotFound:
            raise ToolError('backup %s is not in the database' % backup_id)

    def backups(self):
        """Every backup record that is not deleted, oldest first."""
        from cinder import objects
        return sorted(objects.BackupList.get_all(self.context),
                      key=lambda b: (b.created_at, b.id))

    def chain(self, backup):
        """The backup and its ancestors, newest first."""
        from cinder_backup_ext.repository import chain as backup_chain

        def parent_of(member):
            return self.backup(member.parent_id) if member.parent_id else None
        try:
            return backup_chain.walk(backup, parent_of)
        except backup_chain.ChainError as error:
            raise ToolError(str(error), EXIT_PROBLEMS)

    # --- coordination -----------------------------------------------------

    @contextlib.contextmanager
    def exclusive(self, name):
        """Cinder's coordination lock `name`, without waiting: two hosts
        never do this work at once."""
        from cinder import coordination
        coordinator = coordination.COORDINATOR
        try:
            try:
                coordinator.start()
                lock = coordinator.get_lock('cinder-backup-ext-%s' % name)
                acquired = lock.acquire(blocking=False)
            except Exception as error:
                # Without the lock two hosts could collect at once.
                raise ToolError(
                    'cannot take the %s lock through [coordination] '
                    'backend_url = %s: %s: %s' % (
                        name, self.conf.coordination.backend_url,
                        type(error).__name__, error), EXIT_PROBLEMS)
            if not acquired:
                raise ToolError('another host holds the %s lock; try again '
                                'when it is done' % name, EXIT_LOCKED)
            try:
                yield
            finally:
                lock.release()
        finally:
            try:
                coordinator.stop()
            except Exception:  # nosec B110
                # A back end that is down has nothing of ours to release.
                pass


def run_tool(args, body):
    """Build Tools from args, run body(tools) and turn errors into exit
    codes and one-line messages."""
    import traceback
    try:
        tools = Tools(args.config_files, debug=args.debug)
        return body(tools)
    except ToolError as error:
        sys.stderr.write('%s: %s\n' % (args.command, error))
        return error.exit_code
    except Exception as error:
        if args.debug:
            traceback.print_exc()
        sys.stderr.write('%s failed: %s: %s\n'
                         % (args.command, type(error).__name__, error))
        return EXIT_PROBLEMS
