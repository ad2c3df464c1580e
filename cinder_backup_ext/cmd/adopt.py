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

"""Take over backups made by Cinder's own POSIX and NFS drivers.

Owns the rewrite of ``backups.service``: Cinder's backup manager refuses to
restore, delete or export a backup whose record names another driver, so
after switching ``backup_driver`` to this library the old backups are
stranded until their records name it.  Each candidate is first checked
with cmd/checks.py (its 1.0.0 metadata and the existence of its objects;
with --deep their MD5s too), and only then rewritten.  The run holds
Cinder's coordination lock ``cinder-backup-ext-adopt``.
"""

import sys

from cinder_backup_ext.cmd import checks
from cinder_backup_ext.cmd import context as tool_context

# Cinder's own drivers whose files this library reads, under their
# current and older names (Cinder's manager accepts both).
CINDER_DRIVERS = ('cinder.backup.drivers.posix', 'cinder.backup.drivers.nfs')

DESCRIPTION = (
    'Take over backups made by Cinder\'s own POSIX and NFS drivers '
    '(cinder.backup.drivers.posix / .nfs): Cinder refuses to restore or '
    'delete a backup whose record names another driver than backup_driver. '
    'Each available backup made by those drivers is checked (its metadata '
    'and that every object exists; --deep reads them and checks their '
    'MD5s), then its record\'s service is set to the configured '
    'backup_driver. --dry-run only shows what would change. Exit codes: 0 '
    'every candidate adopted (or none found), 1 some could not be adopted '
    '(they keep their old driver), 2 usage or configuration error, 3 '
    'another host holds the lock.')


def add_arguments(parser):
    parser.add_argument('--dry-run', action='store_true',
                        help='check and show what would change; change '
                             'nothing')
    parser.add_argument('--deep', action='store_true',
                        help='read every object and check its MD5 before '
                             'adopting')
    tool_context.add_config_argument(parser)
    tool_context.add_format_argument(parser)


def is_cinder_backup(backup):
    service = backup.service or ''
    return any(service == name or service.startswith(name + '.')
               for name in CINDER_DRIVERS)


def adopt(tools, dry_run, deep):
    """A list of results, one per candidate."""
    from cinder_backup_ext.repository import records
    checker = checks.Checker(tools, deep)
    results = []
    for backup in tools.backups():
        if backup.service == tools.driver_path or \
                not is_cinder_backup(backup):
            continue
        result = {'backup': backup.id, 'from': backup.service,
                  'to': tools.driver_path, 'status': backup.status,
                  'problems': []}
        results.append(result)
        if backup.status != 'available':
            result['action'] = 'skipped: status is %s' % backup.status
            continue
        if not records.is_legacy(backup):
            result['action'] = ('skipped: no data in Cinder\'s format '
                                '(service_metadata %r)'
                                % backup.service_metadata)
            continue
        report = checker.check(backup)
        result['problems'] = [p._asdict() for p in report.problems]
        if not report.ok:
            result['action'] = 'not adopted: the check failed'
            continue
        if dry_run:
            result['action'] = 'would adopt (dry run)'
            continue
        backup.service = tools.driver_path
        backup.save()
        result['action'] = 'adopted'
    return results


def run(args):
    def body(tools):
        with tools.exclusive('adopt'):
            results = adopt(tools, args.dry_run, args.deep)
        failed = [r for r in results if r['problems']]
        if args.format == 'json':
            tool_context.print_json({'dry_run': args.dry_run,
                                     'backups': results})
        else:
            out = sys.stdout
            for result in results:
                out.write('backup %s: %s\n    service %s -> %s\n' % (
                    result['backup'], result['action'], result['from'],
                    result['to']))
                for problem in result['problems']:
                    out.write('    backup %s: %s: %s\n' % (
                        problem['backup'], problem['object'],
                        problem['reason']))
            out.write('adopt: %d candidates, %d adopted, %d failed the '
                      'check%s\n' % (
                          len(results),
                          sum(1 for r in results
                              if r['action'] == 'adopted'),
                          len(failed),
                          ' (dry run)' if args.dry_run else ''))
        return tool_context.EXIT_PROBLEMS if failed else tool_context.EXIT_OK
    return tool_context.run_tool(args, body)
