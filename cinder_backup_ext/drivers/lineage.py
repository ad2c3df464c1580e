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

"""A backup's parents and children as the database records them.

Owns the checks that keep incremental backups readable: the chain of a
backup from the database (walked by cinder_backup_ext.repository.chain),
that a parent can be built on and is still there before an
incremental's manifest is written, that the chain its manifests record is
the database's, and that a backup with incrementals is not deleted.
Failures are Cinder's InvalidBackup.  The driver classes (chunked, posix,
nfs) import it, never the other way round.
"""

from cinder import exception as cinder_exception
from cinder import objects
from cinder.objects import fields

from cinder_backup_ext.i18n import _
from cinder_backup_ext.repository import chain as backup_chain
from cinder_backup_ext.repository import records

# Statuses of a parent whose data stays as its incremental found it (a
# restore only reads it).
_PARENT_USABLE = (fields.BackupStatus.AVAILABLE,
                  fields.BackupStatus.RESTORING)


def chain(context, backup):
    """The backup and its ancestors, newest first, from the DB."""
    def parent_of(member):
        if not member.parent_id:
            return None
        return objects.Backup.get_by_id(context, member.parent_id)
    try:
        return backup_chain.walk(backup, parent_of)
    except backup_chain.ChainError as error:
        raise cinder_exception.InvalidBackup(reason=str(error))


def check_parent_format(parent):
    """An incremental builds only on a backup this library made."""
    if records.is_legacy(parent):
        raise cinder_exception.InvalidBackup(
            reason=_('parent backup %s was made by another driver; make '
                     'a full backup first') % parent.id)


def check_parent_block_size(parent, parent_manifest, block_size):
    """An incremental compares blocks of the parent's size."""
    if parent_manifest.block_size != block_size:
        raise cinder_exception.InvalidBackup(
            reason=_('backup_sha_block_size_bytes changed from %(old)d '
                     'to %(new)d since parent backup %(id)s; make a full '
                     'backup') % {'old': parent_manifest.block_size,
                                  'new': block_size,
                                  'id': parent.id})


def check_parent_kept(context, backup):
    """The parent is still there to build on.

    Cinder's API checks that a backup has no incrementals before it
    deletes it, but not atomically with creating one: a parent deleted
    while its incremental is written would leave the incremental referring
    to objects that are gone.  Checked just before the manifest; a delete
    of the parent that starts later finds this backup's record
    (refuse_with_children) and refuses.
    """
    try:
        parent = objects.Backup.get_by_id(context, backup.parent_id)
    except cinder_exception.BackupNotFound:
        parent = None
    if parent is None or parent.status not in _PARENT_USABLE:
        raise cinder_exception.InvalidBackup(
            reason=_('parent backup %(id)s was %(what)s while this '
                     'incremental backup was written; nothing of it was '
                     'kept') % {'id': backup.parent_id,
                                'what': 'deleted' if parent is None else
                                'set to status %s' % parent.status})


def check_manifest_chains(members, manifests):
    """Each member's manifest records the chain the database has for it
    (members newest first, manifests in the same order)."""
    expected = [member.id for member in members]
    for depth, member_manifest in enumerate(manifests):
        if member_manifest.chain != expected[depth:]:
            raise cinder_exception.InvalidBackup(
                reason=_('backup %(id)s: the repository records the '
                         'chain %(stored)s, the database %(db)s')
                % {'id': members[depth].id,
                   'stored': member_manifest.chain,
                   'db': expected[depth:]})


def refuse_with_children(context, backup):
    """An incremental backup reads its parent's objects: a backup with
    records naming it as parent (not deleted, whatever their status) keeps
    its data.

    Cinder's API makes the same check, but a new incremental can be
    created between that check and this delete.  The record of an
    incremental exists before it writes anything, and it checks its parent
    again before its manifest (check_parent_kept): one of the two always
    sees the other.
    """
    # Deleted records are no children, whatever the caller's context reads.
    children = objects.BackupList.get_all(
        context.elevated(read_deleted='no'),
        filters={'parent_id': backup.id})
    if len(children):
        raise cinder_exception.InvalidBackup(
            reason=_('backup %(id)s has incremental backups that are '
                     'not deleted: %(children)s; delete them first')
            % {'id': backup.id,
               'children': ', '.join(sorted(c.id for c in children))})
