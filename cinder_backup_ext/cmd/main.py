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

"""The ``cinder-backup-ext`` command.

Owns argument parsing, eventlet monkey patching and logging setup shared by
every subcommand.  A subcommand is a module under ``cinder_backup_ext.cmd``
with a docstring (its first line is the help text), optionally a
DESCRIPTION for ``--help``, ``add_arguments(parser)`` and
``run(args) -> int``; it is made available by one line in SUBCOMMANDS.

Nothing from cinder, oslo or the drivers may be imported at module level
here: cinder-backup monkey patches eventlet before importing anything else,
and this command must run the drivers in the same world.
"""

import argparse
import importlib
import os
import sys
import warnings

SUBCOMMANDS = {
    'bench': 'cinder_backup_ext.cmd.bench',
    'demo': 'cinder_backup_ext.cmd.demo',
    'verify': 'cinder_backup_ext.cmd.verify',
    'inspect': 'cinder_backup_ext.cmd.inspection',
    'orphans': 'cinder_backup_ext.cmd.orphans',
    'adopt': 'cinder_backup_ext.cmd.adopt',
    'mount': 'cinder_backup_ext.cmd.mount',
}

# cinder.monkey_patch honours this variable too, so setting it is how
# --no-eventlet reaches Cinder's own code.
NO_EVENTLET_ENV = 'OS_CINDER_DISABLE_EVENTLET_PATCHING'


def eventlet_disabled(argv):
    if '--no-eventlet' in argv:
        return True
    value = os.environ.get(NO_EVENTLET_ENV, '').strip().lower()
    return value in ('1', 'true', 'yes')


def monkey_patch(argv):
    """Patch the way cinder-backup does, unless asked not to."""
    debug = '--debug' in argv
    if not debug:
        # Importing cinder announces eventlet's deprecation on every run;
        # that is noise for someone running a command, not information.
        warnings.filterwarnings('ignore', message=r'\s*Eventlet is deprecated')
    if eventlet_disabled(argv):
        os.environ[NO_EVENTLET_ENV] = 'true'
    import logging
    if not debug:
        # cinder.monkey_patch logs before logging is configured; with no
        # handler its warning about native threading would reach stderr.
        logging.getLogger('cinder.monkey_patch').setLevel(logging.ERROR)
    try:
        from cinder import monkey_patch as cinder_monkey_patch
    except ImportError:
        # Cinder releases before 2025.2 patched unconditionally in
        # cinder/cmd/backup.py.
        if not eventlet_disabled(argv):
            import eventlet
            eventlet.monkey_patch()
        return
    cinder_monkey_patch.patch()


def eventlet_active():
    try:
        import eventlet.patcher
    except ImportError:
        return False
    return eventlet.patcher.is_monkey_patched('thread')


def configure(config_files=(), debug=False):
    """Parse cinder's configuration and set up oslo.log.

    Only the given files are read: a subcommand that should not touch the
    host's /etc/cinder/cinder.conf must not get it by default.
    """
    import logging as std_logging

    from oslo_config import cfg
    from oslo_log import log as logging

    from cinder.common import config  # noqa: F401 - registers global opts
    from cinder import objects

    conf = cfg.CONF
    logging.register_options(conf)
    conf(args=[], project='cinder', default_config_files=list(config_files))
    conf.set_override('debug', debug)
    logging.setup(conf, 'cinder')
    if not debug:
        std_logging.getLogger().setLevel(std_logging.WARNING)
    objects.register_all()
    return conf


def common_arguments():
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument('--debug', action='store_true',
                        help='log at DEBUG level to stderr')
    parent.add_argument('--no-eventlet', action='store_true',
                        help='run with native threads instead of eventlet '
                             'monkey patching (also: %s=true)'
                             % NO_EVENTLET_ENV)
    return parent


def build_parser(modules):
    parser = argparse.ArgumentParser(
        prog='cinder-backup-ext',
        description='Tools for the cinder-backup-ext backup drivers.')
    subparsers = parser.add_subparsers(dest='command', metavar='COMMAND')
    subparsers.required = True
    parent = common_arguments()
    for name, module in modules.items():
        doc = (module.__doc__ or '').strip()
        summary = doc.splitlines()[0] if doc else name
        description = getattr(module, 'DESCRIPTION', summary)
        sub = subparsers.add_parser(name, parents=[parent], help=summary,
                                    description=description)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    monkey_patch(argv)
    modules = {name: importlib.import_module(path)
               for name, path in SUBCOMMANDS.items()}
    args = build_parser(modules).parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print('interrupted', file=sys.stderr)
        return 130


if __name__ == '__main__':
    sys.exit(main())
