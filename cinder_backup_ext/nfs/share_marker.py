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

"""The identity marker at the root of a shared repository.

One small JSON file names the repository (a random UUID) and its format
version.  Comparing the marker seen through each address of a share is how
the NFS driver finds out that two addresses reach different exports, which
would otherwise split backups between two repositories unnoticed.  This
module only reads and creates the file; deciding what a mismatch means is
the caller's job.
"""

import json
import os
import uuid

from cinder_backup_ext.repository import manifest
from cinder_backup_ext.storage import posix as posix_store

MARKER_NAME = '.cinder-backup-ext-share.json'
MARKER_KIND = 'cinder-backup-ext share'


class MarkerError(Exception):
    """The marker exists but cannot be read as one."""


class Marker(object):
    def __init__(self, repository_uuid, format_version):
        self.repository_uuid = repository_uuid
        self.format_version = format_version

    def encode(self):
        return json.dumps({'kind': MARKER_KIND,
                           'repository_uuid': self.repository_uuid,
                           'format': self.format_version},
                          sort_keys=True).encode('utf-8') + b'\n'

    @classmethod
    def decode(cls, data):
        try:
            doc = json.loads(data.decode('utf-8'))
            if doc.get('kind') != MARKER_KIND:
                raise ValueError('not a share marker')
            return cls(str(uuid.UUID(doc['repository_uuid'])),
                       doc['format'])
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise MarkerError('invalid share marker: %s' % error)

    def __eq__(self, other):
        return isinstance(other, Marker) and \
            self.repository_uuid == other.repository_uuid

    def __hash__(self):
        return hash(self.repository_uuid)

    def __repr__(self):
        return 'repository %s (format %s)' % (self.repository_uuid,
                                              self.format_version)


def read_marker(root):
    """The marker at root, or None if there is none."""
    try:
        with open(os.path.join(root, MARKER_NAME), 'rb') as f:
            return Marker.decode(f.read())
    except FileNotFoundError:
        return None


def create_marker(root):
    """The marker at root, created with a new UUID if there is none.

    Creation is a hard link of a complete temporary file: link() fails if
    the name exists, also over NFS, so when two hosts race to create the
    marker exactly one wins and the other reads the winner's.
    """
    marker = Marker(str(uuid.uuid4()), manifest.VERSION)
    final = os.path.join(root, MARKER_NAME)
    temp = '%s%s%s' % (final, posix_store.TEMP_MARK, uuid.uuid4().hex)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                 posix_store.FILE_MODE)
    try:
        try:
            os.fchmod(fd, posix_store.FILE_MODE)
            os.write(fd, marker.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temp, final)
        except FileExistsError:
            return read_marker(root)
    finally:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
    dir_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return marker
