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

Owns argument parsing and the dispatch to subcommands; the process is set
up (eventlet, cinder.conf, logging) by cinder_backup_ext.runtime.process.  A
subcommand is a module with a docstring (its first line is the help
text), optionally a DESCRIPTION for ``--help``, ``add_arguments(parser)``
and ``run(args) -> int``; it is made available by one line in
SUBCOMMANDS.

Nothing from cinder, oslo or the drivers may be imported at module level
here: the process is monkey patched before any subcommand is imported.
No module of this library imports this one: it is the entry point.
"""

import argparse
import importlib
import sys

from cinder_backup_ext.runtime import process

SUBCOMMANDS = {
    'bench': 'cinder_backup_ext.devtools.bench',
    'demo': 'cinder_backup_ext.devtools.demo',
    'verify': 'cinder_backup_ext.cmd.verify',
    'inspect': 'cinder_backup_ext.cmd.inspection',
    'orphans': 'cinder_backup_ext.cmd.orphans',
    'adopt': 'cinder_backup_ext.cmd.adopt',
    'mount': 'cinder_backup_ext.cmd.mount',
}


def common_arguments():
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument('--debug', action='store_true',
                        help='log at DEBUG level to stderr')
    parent.add_argument('--no-eventlet', action='store_true',
                        help='run with native threads instead of eventlet '
                             'monkey patching (also: %s=true)'
                             % process.NO_EVENTLET_ENV)
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
    process.monkey_patch(argv)
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
