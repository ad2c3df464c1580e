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

"""Check that backups can be restored, without restoring them.

Owns the verify command's selection of backups and its report; what a
check covers is cmd/checks.py's.
"""

import sys

from cinder_backup_ext.cmd import checks
from cinder_backup_ext.cmd import context as tool_context

DESCRIPTION = (
    'Check that backups can be restored. Quick mode (the default) reads '
    'each backup\'s manifest and those of its chain (for an encrypted '
    'backup it checks the manifest\'s MAC with the backup\'s key from the '
    'key manager) and its segment indexes, and checks that every object '
    'the restore would read exists with its recorded size. --deep also '
    'reads every such object, checks its BLAKE3 digest (and AES-GCM tag), '
    'decompresses it and checks every block the backup reads from it '
    'against the fingerprint its segment index recorded, as a restore '
    'does; backups in Cinder\'s format 1.0.0 are checked '
    'for their objects\' existence, and with --deep their MD5s. Each '
    'problem names the backup, the object and the reason. Exit codes: 0 '
    'all checked backups are intact, 1 a problem was found, 2 usage or '
    'configuration error.')


def add_arguments(parser):
    parser.add_argument('backup_ids', nargs='*', metavar='BACKUP_ID',
                        help='backups to check (with their chains)')
    parser.add_argument('--all', action='store_true',
                        help='check every available backup in the database')
    parser.add_argument('--deep', action='store_true',
                        help='read and authenticate every object and check '
                             'every block against its fingerprint (reads the '
                             'whole stored size of the backups)')
    tool_context.add_config_argument(parser)
    tool_context.add_format_argument(parser)


def _selected(tools, args):
    """(backups to check, backups skipped with why)."""
    if args.backup_ids:
        return [tools.backup(i) for i in args.backup_ids], []
    chosen, skipped = [], []
    for backup in tools.backups():
        if backup.status == 'available':
            chosen.append(backup)
        else:
            skipped.append({'backup': backup.id, 'status': backup.status,
                            'reason': 'status is %s, not available'
                            % backup.status})
    return chosen, skipped


def _print_text(reports, skipped, out):
    for report in reports:
        head = 'backup %s (format %s, chain of %d, %s)' % (
            report.backup_id, report.format, len(report.chain),
            'deep' if report.deep else 'quick')
        if report.ok:
            out.write('%s: OK, %d objects\n' % (head, report.objects))
            continue
        out.write('%s: DAMAGED\n' % head)
        for problem in report.problems:
            out.write('  backup %s: %s: %s\n' % (
                problem.backup, problem.object or '(backup)',
                problem.reason))
    for item in skipped:
        out.write('backup %s: skipped, %s\n'
                  % (item['backup'], item['reason']))
    damaged = [r for r in reports if not r.ok]
    out.write('verify: %d backups checked, %d damaged, %d problems, %d '
              'skipped\n' % (len(reports), len(damaged),
                             sum(len(r.problems) for r in damaged),
                             len(skipped)))


def run(args):
    if bool(args.backup_ids) == bool(args.all):
        sys.stderr.write('verify: give backup IDs or --all (not both)\n')
        return tool_context.EXIT_USAGE

    def body(tools):
        backups, skipped = _selected(tools, args)
        checker = checks.Checker(tools, args.deep)
        reports = [checker.check(backup) for backup in backups]
        ok = all(report.ok for report in reports)
        if args.format == 'json':
            tool_context.print_json({
                'ok': ok, 'mode': 'deep' if args.deep else 'quick',
                'backups': [report.to_json() for report in reports],
                'skipped': skipped})
        else:
            _print_text(reports, skipped, sys.stdout)
        return tool_context.EXIT_OK if ok else tool_context.EXIT_PROBLEMS
    return tool_context.run_tool(args, body)
