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

"""Exceptions this library raises besides Cinder's own."""

from cinder import exception
from cinder.i18n import _


class BackupCorrupted(exception.InvalidBackup):
    """Stored data failed verification; nothing of it reached the volume."""
    message = _('Backup %(backup_id)s is damaged: object %(object)s: '
                '%(reason)s')


class BackupKeyError(exception.BackupDriverException):
    """A backup's key could not be created, fetched or used."""
    message = _('Backup %(backup_id)s: key %(key_id)s: %(reason)s')


class StorageError(Exception):
    """A storage back end failed; carries the object it was working on."""


class ObjectNotFound(StorageError):
    """The object asked for does not exist."""


class BackupDeletedMeanwhile(StorageError):
    """The backup's objects were deleted while it was being written."""

    def __init__(self, directory):
        super().__init__('%s was deleted while the backup was written'
                         % directory)


class ShareUnavailable(exception.BackupDriverException):
    """No address of the NFS share could be mounted and used."""
    message = _('The backup share cannot be reached through any address '
                'in backup_share (%(addresses)s; %(attempts)d attempts '
                'each): %(reason)s')


class ShareMismatch(exception.BackupDriverException):
    """The addresses in backup_share do not all reach the same export."""
    message = _('backup_share lists addresses that do not reach the same '
                'export: %(detail)s. Every address must serve the same '
                'directory; fix backup_share.')
