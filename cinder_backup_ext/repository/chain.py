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

"""A backup's parent chain: the backup and its ancestors, newest first.

Owns walking the parent links of backup records, with the format's cap on
a chain's length (manifest.MAX_CHAIN) and a check for cycles, so that
damaged records cannot make a walk run forever.  It knows nothing of where
the records come from: the caller gives the look-up of a parent (Cinder's
database for the driver, the operator tools' own context for them).  A
record needs only an `id`.
"""

from cinder_backup_ext.repository import manifest


class ChainError(Exception):
    """The parent links of a backup do not form a usable chain."""

    def __init__(self, backup_id, message):
        super().__init__(message)
        self.backup_id = backup_id


class ChainTooLong(ChainError):
    def __init__(self, backup_id, limit):
        super().__init__(backup_id,
                         'backup %s has a parent chain of more than %d '
                         'backups' % (backup_id, limit))
        self.limit = limit


class CyclicChain(ChainError):
    def __init__(self, backup_id, members):
        """members: the IDs walked, ending with the one seen again."""
        super().__init__(backup_id,
                         'backup %s has a cyclic parent chain: %s'
                         % (backup_id, ' -> '.join(members)))
        self.members = members


def walk(backup, parent_of, limit=manifest.MAX_CHAIN):
    """[backup, its parent, ..., the full backup]: newest first.

    parent_of(record) returns the record's parent record, or None when it
    has none; its errors pass through.  Raises CyclicChain when a backup
    comes back, ChainTooLong when the chain would hold more than limit
    backups.
    """
    chain = [backup]
    seen = {backup.id}
    while True:
        parent = parent_of(chain[-1])
        if parent is None:
            return chain
        if parent.id in seen:
            raise CyclicChain(backup.id,
                              [member.id for member in chain] + [parent.id])
        if len(chain) >= limit:
            raise ChainTooLong(backup.id, limit)
        seen.add(parent.id)
        chain.append(parent)
