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

"""Find (and with --delete remove) what the share holds that nobody needs.

Owns the rules of garbage collection.  A finding is one of:

debris
    A backup directory without a valid manifest (the format's rule: such a
    backup is not complete) whose backup is unknown to Cinder's database
    or is recorded with status error: what a killed or failed backup
    leaves behind.  Also a backup unknown to the database whose manifest
    needs objects of its own that are gone: it restores nothing.  Deleted
    with --delete.
temp
    A temporary file (name containing ``.tmp-``) of an interrupted write.
    Deleted with --delete.
unknown
    A complete backup (its manifest validates) unknown to the database.
    Never deleted: when every object it needs is there (its own, and its
    ancestors' where their records or its container put them), the
    command prints the ``cinder backup-import`` record that brings it
    back; otherwise it says what is missing.
damaged
    A backup directory without a manifest whose record says the backup is
    usable.  Never deleted: `verify` tells more.
in-use
    A backup that is being written, restored or deleted (database status
    creating, restoring or deleting).  Left alone.
unknown-file
    Any other file outside a known backup.  Reported only.

Nothing younger than --older-than is deleted, and every candidate is
checked again (database status and age) just before it is removed.  The
whole run holds Cinder's coordination lock ``cinder-backup-ext-orphans``,
so two hosts never collect at once.
"""

import math
import sys
import time

from cinder_backup_ext.cmd import context as tool_context
from cinder_backup_ext.cmd import scan

DEFAULT_AGE = '24h'
DESCRIPTION = __doc__.split('\n\n', 1)[1].replace('\n', ' ') + (
    ' Dry run unless --delete. Exit codes: 0 done (findings or not), 1 a '
    'deletion failed, 2 usage or configuration error, 3 another host holds '
    'the lock.')
GiB = 1024 ** 3


def add_arguments(parser):
    parser.add_argument('--delete', action='store_true',
                        help='delete debris and temporary files (default: '
                             'only report them)')
    parser.add_argument('--older-than', default=DEFAULT_AGE,
                        metavar='DURATION',
                        help='only debris older than this is deleted: its '
                             'newest file must be this old, e.g. 30m, 24h, '
                             '7d (default: %(default)s)')
    tool_context.add_config_argument(parser)
    tool_context.add_format_argument(parser)


class Finding(object):
    def __init__(self, kind, path, reason, backup_id=None, age=None,
                 deletable=False):
        self.kind = kind
        self.path = path
        self.reason = reason
        self.backup_id = backup_id
        self.age = age
        self.deletable = deletable
        self.action = 'reported'
        self.record = None
        self.delete = None

    def to_json(self):
        document = {'kind': self.kind, 'path': self.path,
                    'reason': self.reason, 'backup': self.backup_id,
                    'age_seconds': None if self.age is None
                    else round(self.age, 1), 'action': self.action}
        if self.record is not None:
            document['import'] = self.record
        return document


class Collector(object):
    def __init__(self, tools, older_than, now=None):
        self.tools = tools
        self.older_than = older_than
        self.now = now if now is not None else time.time()
        self.findings = []

    # --- looking ------------------------------------------------------------

    def survey(self):
        from cinder_backup_ext.nfs import share_marker
        from cinder_backup_ext.repository import layout
        from cinder_backup_ext.repository import legacy
        from cinder_backup_ext.repository import records
        root = self.tools.root()
        backups = self.tools.backups()
        self.by_directory = {}
        legacy_files = set()
        for backup in backups:
            if records.is_ours(backup) and backup.container:
                try:
                    directory = layout.backup_directory(backup.container,
                                                        backup.id)
                except Exception:  # nosec B112
                    # A record with an invalid container owns no directory.
                    continue
                self.by_directory[directory] = backup
            elif records.is_legacy(backup) and backup.container:
                legacy_files.add((backup.container.strip('/'),
                                  backup.service_metadata))
        self.by_id = {b.id: b for b in self.by_directory.values()}
        self.busy = {b.id for b in backups
                     if b.status in tool_context.BUSY_STATUSES}
        directories, loose = scan.scan(root)
        for found in directories:
            self._directory(found)
        for item in loose:
            self._loose(item, legacy_files, share_marker.MARKER_NAME,
                        legacy.metadata_name)
        return self.findings

    def _add(self, finding):
        self.findings.append(finding)
        return finding

    def _directory(self, found):
        from cinder_backup_ext.repository import layout
        age = self.now - found.newest
        record = self.by_directory.get(found.directory)
        path = found.directory
        if found.backup_id in self.busy:
            self._add(Finding('in-use', path, 'the database records status '
                              '%s: a driver may be using it' % (
                                  record.status if record else 'busy'),
                              found.backup_id, age))
            return
        has_manifest = layout.MANIFEST in found.files
        if record is not None:
            for temp in found.temps:
                self._temp(found.directory, temp)
            if has_manifest:
                return
            if record.status == 'error':
                self._debris(found, age, 'no manifest; the database records '
                             'the backup as failed (status error)')
            else:
                self._add(Finding('damaged', path, 'no manifest, but the '
                                  'database records status %s; run verify'
                                  % record.status, found.backup_id, age))
            return
        if not has_manifest:
            self._debris(found, age, 'no manifest and no database record: '
                         'an interrupted backup')
            return
        valid, reason, backup_manifest, location = self._validate(found)
        if not valid:
            self._debris(found, age, 'unknown to the database and its '
                         'manifest does not validate (%s)' % reason)
            return
        own, elsewhere = self._missing_objects(found, backup_manifest,
                                               location)
        if own:
            # What a delete that raced the backup's writer could leave:
            # a manifest over objects that are gone.  It restores nothing.
            self._debris(found, age, 'unknown to the database, and %d '
                         'objects its manifest needs are missing (%s): it '
                         'cannot be restored' % (len(own), own[0]))
            return
        if elsewhere is not None:
            self._add(Finding('unknown', path, 'a backup unknown to the '
                              'database that cannot be imported: %s'
                              % elsewhere, found.backup_id, age))
            return
        finding = self._add(Finding(
            'unknown', path, 'a complete backup unknown to the database%s'
            % (' (%s)' % reason if reason else ''), found.backup_id, age))
        finding.record = self._import_record(found, backup_manifest)
        finding.chain_length = len(backup_manifest.chain)

    def _debris(self, found, age, reason):
        finding = self._add(Finding('debris', found.directory, reason,
                                    found.backup_id, age, deletable=True))

        def delete():
            from cinder_backup_ext.repository import repository
            self._recheck(found)
            self.tools.repo.delete(repository.BackupLocation(
                found.container, found.backup_id))
        finding.delete = delete

    def _temp(self, directory, temp):
        finding = self._add(Finding(
            'temp', '%s/%s' % (directory, temp.name),
            'temporary file of an interrupted write', None,
            self.now - temp.mtime, deletable=True))

        def delete():
            self.tools.store.delete_object(directory, temp.name)
        finding.delete = delete

    def _loose(self, item, legacy_files, marker_name, metadata_name):
        name = item.name
        if name == marker_name:
            return
        folder, _sep, base = name.rpartition('/')
        from cinder_backup_ext.storage import posix as posix_store
        if posix_store.TEMP_MARK in base:
            self._temp(folder or '.', scan.LooseFile(base, item.mtime))
            return
        for container, prefix in legacy_files:
            if folder == container and base.startswith(prefix):
                return
        self._add(Finding('unknown-file', name, 'a file no backup in the '
                          'database accounts for', None,
                          self.now - item.mtime))

    def _validate(self, found):
        """(valid, note, manifest) of an unknown backup's manifest,
        authenticated with its key when it names one and the key manager
        still has it."""
        from cinder_backup_ext import exception
        from cinder_backup_ext.repository import layout
        from cinder_backup_ext.repository import manifest
        from cinder_backup_ext.repository import repository
        from cinder_backup_ext.sealing import crypto
        from cinder_backup_ext.sealing import keys
        try:
            data = self.tools.store.get_object(found.directory,
                                               layout.MANIFEST)
            parsed = manifest.decode_manifest(data, found.backup_id)
        except (manifest.ManifestError, exception.StorageError,
                OSError) as error:
            return False, str(error), None, None
        location = repository.BackupLocation(found.container,
                                             found.backup_id)
        if parsed.key_id is None:
            return True, None, parsed, location
        try:
            raw = keys.get_key(self.tools.context, found.backup_id,
                               parsed.key_id)
        except exception.BackupKeyError as error:
            return True, 'its MAC is not checked: %s' % error, parsed, None
        location.cipher = crypto.BackupCipher(found.backup_id,
                                              parsed.key_id, raw)
        try:
            return (True, None, self.tools.repo.read_manifest(location),
                    location)
        except exception.BackupCorrupted as error:
            return False, tool_context.error_reason(error)[1], None, None

    def _missing_objects(self, found, backup_manifest, location):
        """(its own objects that are missing, why the rest cannot be
        checked or is missing, or None): an import is offered only for a
        backup whose every object is there.

        Objects of ancestors are looked for where their record puts them,
        or in this backup's container for an ancestor the database does
        not know.
        """
        from cinder_backup_ext import exception
        from cinder_backup_ext.repository import layout
        if location is None:
            return [], 'its segment indexes cannot be read without its key'
        chain = backup_manifest.chain
        own = set(found.files)
        known = self.by_id
        directories = [found.directory] + [
            layout.backup_directory(known[i].container if i in known
                                    else found.container, i)
            for i in chain[1:]]
        missing = []
        elsewhere = None
        checked = set()
        for segment in backup_manifest.segments:
            try:
                index = self.tools.repo.read_index(location, segment,
                                                   len(chain))
            except exception.BackupCorrupted as error:
                return [tool_context.error_reason(error)[0]], None
            for extent in index.extents:
                ref = extent.ref
                if ref is None or (ref.depth, ref.number) in checked:
                    continue
                checked.add((ref.depth, ref.number))
                name = layout.data_object_name(ref.number)
                if ref.depth == 0:
                    if name not in own:
                        missing.append('%s/%s' % (found.directory, name))
                elif elsewhere is None and not self.tools.store.exists(
                        directories[ref.depth], name):
                    elsewhere = ('object %s/%s of its ancestor %s is '
                                 'missing' % (directories[ref.depth], name,
                                              chain[ref.depth]))
        return missing, elsewhere

    def _import_record(self, found, backup_manifest):
        """The record `cinder backup-export` would have printed."""
        from oslo_utils import timeutils

        from cinder import objects
        from cinder_backup_ext.repository import records
        backup = objects.Backup(context=self.tools.context)
        created = (timeutils.parse_isotime(backup_manifest.created_at)
                   if backup_manifest.created_at else None)
        values = {
            'id': found.backup_id, 'user_id': '', 'project_id': '',
            'volume_id': backup_manifest.volume_id,
            'container': found.container,
            'parent_id': backup_manifest.parent_id,
            'status': 'available',
            'size': max(1, math.ceil(backup_manifest.size / GiB)),
            'display_name': 'recovered %s' % found.backup_id,
            'display_description': 'found on the backup share by '
                                   'cinder-backup-ext orphans',
            'service_metadata': records.service_metadata(
                backup_manifest.key_id),
            'service': self.tools.driver_path,
            'object_count': sum(1 for name in found.files
                                if name.startswith('data/')),
            'num_dependent_backups': 0, 'data_timestamp': created,
            'created_at': created, 'metadata': {}, 'deleted': False,
        }
        for name, field in backup.fields.items():
            if name in values:
                setattr(backup, name, values[name])
            elif name != 'parent' and field.nullable:
                setattr(backup, name, None)
        url = backup.encode_record(
            driver_info=self.tools.driver.export_record(backup))
        return {'backup_service': self.tools.driver_path, 'backup_url': url,
                'command': 'cinder backup-import %s %s'
                % (self.tools.driver_path, url)}

    def _recheck(self, found):
        """Just before deleting: still not in use, still old enough."""
        from cinder import exception
        from cinder import objects
        try:
            record = objects.Backup.get_by_id(self.tools.context,
                                              found.backup_id)
        except exception.BackupNotFound:
            record = None
        if record is not None and record.status != 'error':
            raise tool_context.ToolError('the database now records status '
                                         '%s' % record.status)
        import os
        newest, _files, _temps = scan._inside(
            os.path.join(self.tools.root(), found.directory))
        if time.time() - newest < self.older_than:
            raise tool_context.ToolError('it was written to since the scan')

    # --- acting ----------------------------------------------------------

    def collect(self, delete):
        failed = 0
        for finding in self.findings:
            if not finding.deletable:
                continue
            if finding.age is not None and finding.age < self.older_than:
                finding.action = 'kept: younger than --older-than'
                continue
            if not delete:
                finding.action = 'would delete (dry run)'
                continue
            try:
                finding.delete()
            except Exception as error:
                failed += 1
                finding.action = 'delete failed: %s' % error
                continue
            finding.action = 'deleted'
        return failed


def _age(seconds):
    if seconds is None:
        return '-'
    for unit, size in (('d', 86400), ('h', 3600), ('m', 60)):
        if seconds >= size:
            return '%.1f%s' % (seconds / size, unit)
    return '%ds' % seconds


def _print_text(findings, delete, out):
    for finding in findings:
        out.write('%-12s %s\n' % (finding.kind, finding.path))
        out.write('             %s; age %s; %s\n' % (
            finding.reason, _age(finding.age), finding.action))
        if finding.record is not None:
            out.write('             import it with:\n             %s\n'
                      % finding.record['command'])
    deleted = sum(1 for f in findings if f.action == 'deleted')
    out.write('orphans: %d findings, %d deleted%s\n' % (
        len(findings), deleted,
        '' if delete else ' (dry run: --delete removes debris)'))


def run(args):
    try:
        older_than = tool_context.parse_duration(args.older_than)
    except ValueError as error:
        sys.stderr.write('orphans: --older-than: %s\n' % error)
        return tool_context.EXIT_USAGE

    def body(tools):
        with tools.exclusive('orphans'):
            collector = Collector(tools, older_than)
            started = time.monotonic()
            findings = collector.survey()
            sys.stderr.write('orphans: scanned the repository in %.1f s\n'
                             % (time.monotonic() - started))
            # Parents first, so that import records apply in order.
            findings.sort(key=lambda f: (f.kind, getattr(
                f, 'chain_length', 0), f.path))
            failed = collector.collect(args.delete)
        if args.format == 'json':
            tool_context.print_json({
                'dry_run': not args.delete, 'older_than_seconds': older_than,
                'findings': [f.to_json() for f in findings]})
        else:
            _print_text(findings, args.delete, sys.stdout)
        return tool_context.EXIT_PROBLEMS if failed else tool_context.EXIT_OK
    return tool_context.run_tool(args, body)
