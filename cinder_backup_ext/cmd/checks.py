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

"""Checking that backups are restorable, for verify and adopt.

Owns what a check covers and how its findings are reported; the reading
and authentication of stored data stay in Repository (format 2) and
LegacyBackups (Cinder's 1.0.0), so a check fails exactly where a restore
would.  Quick mode reads the manifests (for an encrypted backup: its MAC
with the key from castellan) and segment indexes and checks that every
object the backup needs exists with its recorded size; deep mode reads,
authenticates and decompresses every one of them.
"""

import collections
import sys

from cinder_backup_ext.cmd import context as tool_context
from cinder_backup_ext.cmd import progress

Problem = collections.namedtuple('Problem', 'backup object reason')

FORMAT_2 = '2'
FORMAT_LEGACY = '1.0.0'


class Report(object):
    """What a check of one backup (and its chain) found."""

    def __init__(self, backup, chain, backup_format, deep):
        self.backup_id = backup.id
        self.chain = [member.id for member in chain]
        self.format = backup_format
        self.deep = deep
        self.objects = 0
        self.bytes = 0
        self.problems = []

    @property
    def ok(self):
        return not self.problems

    def problem(self, backup_id, name, reason):
        self.problems.append(Problem(backup_id, name, reason))

    def failed(self, backup_id, error):
        name, reason = tool_context.error_reason(error)
        self.problem(backup_id, name, reason)

    def to_json(self):
        return {'backup': self.backup_id, 'chain': self.chain,
                'format': self.format,
                'mode': 'deep' if self.deep else 'quick', 'ok': self.ok,
                'objects': self.objects, 'bytes': self.bytes,
                'problems': [p._asdict() for p in self.problems]}


# An object to check: `check()` raises an engine error if it is unusable.
# Checks with the same scope, directory and name are run once per run; a
# scope of None shares them between backups.
Item = collections.namedtuple('Item',
                              'owner directory name size check scope')
Item.__new__.__defaults__ = (None,)


def _key(item):
    return item.scope, item.directory, item.name


class Checker(object):
    """Checks backups; an object shared by several chains is checked once
    per run."""

    def __init__(self, tools, deep, stream=None):
        self.tools = tools
        self.deep = deep
        self.stream = stream or sys.stderr
        self._done = {}

    def check(self, backup):
        from cinder_backup_ext.repository import records
        chain = self.tools.chain(backup)
        backup_format = (FORMAT_LEGACY if records.is_legacy(backup)
                         else FORMAT_2)
        report = Report(backup, chain, backup_format, self.deep)
        if not backup.service_metadata:
            report.problem(backup.id, None, 'the database records no stored '
                           'data for this backup (status %s)'
                           % backup.status)
            return report
        if any(records.is_legacy(m) != records.is_legacy(backup)
               for m in chain):
            report.problem(backup.id, None, 'the chain mixes formats 2 and '
                           '1.0.0')
            return report
        if backup_format == FORMAT_LEGACY:
            items = self._legacy_items(report, chain) or None
            total = sum(item.size for item in items or ())
        else:
            items, total = self._format2_items(report, chain)
        if items is not None:
            self._check_items(report, items, total)
        return report

    # --- format 2 ---------------------------------------------------------

    def _format2_items(self, report, chain):
        """(items, their total size): in quick mode each object once; in
        deep mode, segment by segment, read when the checks get there so
        that one segment index at a time is held."""
        from cinder import exception as cinder_exception
        from cinder_backup_ext.engine import extents as extent_ops
        from cinder_backup_ext import exception
        from cinder_backup_ext.repository import repository
        repo = self.tools.repo
        ids = report.chain
        try:
            # The restore's own first step: every member's key, manifest
            # (and MAC) and the chain each records, checked against the DB.
            with self.tools.workers() as workers:
                locations, manifests = self.tools.driver.read_chain_manifests(
                    chain, workers, repo)
            key = repository.fingerprint_secret(locations, manifests[0])
        except (exception.BackupCorrupted, exception.BackupKeyError,
                cinder_exception.InvalidBackup) as error:
            kwargs = getattr(error, 'kwargs', {})
            report.failed(kwargs.get('backup_id', ids[0]), error)
            return None, 0
        refs = {}
        readable = []
        deep_total = 0
        for segment in manifests[0].segments:
            try:
                index = repo.read_index(locations[0], segment, len(chain),
                                        manifests[0].block_size)
            except exception.BackupCorrupted as error:
                report.failed(ids[0], error)
                continue
            readable.append((segment, manifests[0].block_size))
            used = extent_ops.objects(index.extents)
            deep_total += sum(ref.materials.stored for ref in used.values())
            refs.update(used)
        if self.deep:
            return (self._deep_items(report, locations, readable, key),
                    deep_total)
        items = [self._format2_item(locations[depth], ids[depth], ref)
                 for (depth, _number), ref in sorted(refs.items())]
        return items, sum(item.size for item in items)

    def _deep_items(self, report, locations, segments, key):
        """What a restore reads, segment by segment: each object read,
        authenticated and decompressed, and its extents' blocks checked
        against the index's fingerprints; the zero extents checked at
        once.  The fingerprints are the backup's own, so these checks are
        not shared with other backups that read the same objects."""
        from cinder_backup_ext.engine import restore_job
        from cinder_backup_ext import exception
        from cinder_backup_ext.repository import layout
        repo = self.tools.repo
        for segment, block_size in segments:
            try:
                index = repo.read_index(locations[0], segment,
                                        len(locations), block_size)
                work, _zeros = restore_job.plan(report.backup_id,
                                                locations[0], index, key)
            except exception.BackupCorrupted as error:
                report.failed(report.backup_id, error)
                continue
            for item in work:
                def check(item=item):
                    restore_job.read_checked(repo, report.backup_id,
                                             locations, item, key)
                yield Item(report.chain[item.ref.depth],
                           locations[item.ref.depth].directory,
                           layout.data_object_name(item.ref.number),
                           item.ref.materials.stored, check,
                           (report.backup_id, index.number))

    def _format2_item(self, location, owner, ref):
        from cinder_backup_ext import exception
        from cinder_backup_ext.repository import layout
        from cinder_backup_ext.repository import repository
        name = layout.data_object_name(ref.number)
        store = self.tools.store

        def check():
            try:
                size = store.object_size(location.directory, name)
            except exception.ObjectNotFound:
                raise repository.damaged(owner, location.directory, name,
                                         'object is missing')
            if size != ref.materials.stored:
                raise repository.damaged(
                    owner, location.directory, name,
                    'stored size is %d bytes, expected %d'
                    % (size, ref.materials.stored))
        return Item(owner, location.directory, name, ref.materials.stored,
                    check)

    # --- Cinder's format 1.0.0 --------------------------------------------

    def _legacy_items(self, report, chain):
        from cinder_backup_ext import exception
        from cinder_backup_ext.repository import legacy
        from cinder_backup_ext.repository import repository
        reader = legacy.LegacyBackups(self.tools.store, None, 1)
        store = self.tools.store
        items = []
        for member in chain:
            try:
                objects, _meta = reader.read_metadata(member)
            except exception.BackupCorrupted as error:
                report.failed(member.id, error)
                continue
            for name, _offset, length, codec_name, md5 in objects:
                def check(member=member, name=name, length=length,
                          codec_name=codec_name, md5=md5):
                    if self.deep:
                        # The restore path's own read: decompress, length
                        # and MD5 of the plaintext.
                        reader.fetch((member, name, length, codec_name,
                                      md5, None))
                    elif not store.exists(member.container, name):
                        raise repository.damaged(
                            member.id, member.container, name,
                            'object is missing')
                items.append(Item(member.id, member.container, name,
                                  length, check))
        return items

    # --- running the checks -----------------------------------------------

    @staticmethod
    def _run(item):
        # Runs on a native thread: no logging, errors returned as values.
        from cinder_backup_ext import exception
        try:
            item.check()
        except (exception.BackupCorrupted, exception.StorageError,
                OSError) as error:
            return item, error
        return item, None

    def _check_items(self, report, items, total):
        """Run the checks of items (an iterable, consumed once); those a
        backup checked earlier in this run are not run again."""
        from cinder_backup_ext.runtime import concurrency
        label = '%s %s' % ('deep check' if self.deep else 'quick check',
                           report.backup_id[:8])
        phase = progress.Phase(label, total, stream=self.stream)

        def fresh():
            for item in items:
                if _key(item) in self._done:
                    self._record(report, item)
                else:
                    yield item
        count = 0
        with phase, self.tools.workers() as workers:
            for item, error in concurrency.ordered_map(
                    workers, self._run, fresh(), 2 * self.tools.threads):
                self._done[_key(item)] = error
                self._record(report, item)
                phase.add(item.size)
                count += 1
            phase.finish('%d objects' % count)

    def _record(self, report, item):
        error = self._done[_key(item)]
        report.objects += 1
        report.bytes += item.size
        if error is None:
            return
        if isinstance(error, OSError):
            report.problem(item.owner, '%s/%s' % (item.directory, item.name),
                           'cannot read: %s' % error)
        else:
            report.failed(item.owner, error)
