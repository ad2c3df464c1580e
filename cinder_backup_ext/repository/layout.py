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

"""Where a backup lives in the repository: relative names only.

Owns the mapping from (container, backup ID) to the backup's directory and the
names of the objects inside it, and the validation of user-supplied container
names.  It must not touch storage: every name it returns is relative to the
repository root, so moving the share or reaching it through another address
never changes a stored name.
"""

import hashlib
import re

from cinder import exception
from cinder.i18n import _

DEFAULT_CONTAINER = 'backups'
MANIFEST = 'manifest.json'
DATA_PREFIX = 'data/'
INDEX_PREFIX = 'index/'

# 1024 objects per data group keeps every directory small: a 16 TiB volume
# in 8 MiB objects needs 2048 groups, and each group holds 1024 files.
OBJECTS_PER_GROUP = 1024

_MAX_CONTAINER = 255
_SAFE_ID = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$')
_SAFE_COMPONENT = re.compile(r'^[A-Za-z0-9_.@+-][A-Za-z0-9_.@+ -]*$')


def validate_container(container):
    """Return the container name if it stays inside the repository.

    Rejects absolute paths, '.', '..', empty components and characters that
    have a meaning to the file system or the shell, so that no container name
    given to the API can address anything outside the repository root.
    """
    if not isinstance(container, str) or not container:
        raise exception.InvalidBackup(
            reason=_('container name must be a non-empty string, '
                     'got %r') % (container,))
    if len(container) > _MAX_CONTAINER:
        raise exception.InvalidBackup(
            reason=_('container name is longer than %d characters')
            % _MAX_CONTAINER)
    if container.startswith('/'):
        raise exception.InvalidBackup(
            reason=_('container %r is an absolute path; containers are '
                     'relative to the backup repository') % container)
    for part in container.split('/'):
        if part in ('', '.', '..') or not _SAFE_COMPONENT.match(part):
            raise exception.InvalidBackup(
                reason=_('container %(c)r has an invalid path component '
                         '%(p)r') % {'c': container, 'p': part})
    return container


def validate_backup_id(backup_id):
    """Backup IDs become directory names: accept only plain identifiers."""
    if not isinstance(backup_id, str) or not _SAFE_ID.match(backup_id) \
            or '..' in backup_id:
        raise exception.InvalidBackup(
            reason=_('backup ID %r cannot be used as a name in the '
                     'repository') % (backup_id,))
    return backup_id


def fan_out(backup_id):
    """Two directory levels of 256 entries each, from a hash of the ID.

    Hashing spreads backups evenly whatever the ID looks like, so with
    65,536 leaf directories even ten million backups leave ~150 entries in
    any one directory.
    """
    digest = hashlib.sha256(backup_id.encode('utf-8')).hexdigest()
    return '%s/%s' % (digest[0:2], digest[2:4])


def backup_directory(container, backup_id):
    """The directory (relative to the repository) holding one backup."""
    validate_container(container)
    validate_backup_id(backup_id)
    return '%s/%s/%s' % (container, fan_out(backup_id), backup_id)


def data_object_name(number):
    return '%s%05d/%08d' % (DATA_PREFIX, number // OBJECTS_PER_GROUP, number)


def index_object_name(segment):
    return '%s%08d' % (INDEX_PREFIX, segment)
