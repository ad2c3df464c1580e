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

"""What lies in a repository directory tree, for the orphans command.

Owns recognising this library's backup directories by their names alone
(``<container>/<h[0:2]>/<h[2:4]>/<backup ID>``, h the SHA-256 of the ID,
as layout.py makes them), their age (the newest modification time of
anything inside) and the files outside them.  It reads names and times
only, never contents, and changes nothing.
"""

import collections
import os

from cinder_backup_ext.repository import layout
from cinder_backup_ext.storage import posix as posix_store

BackupDirectory = collections.namedtuple(
    'BackupDirectory', 'directory container backup_id newest files temps')
LooseFile = collections.namedtuple('LooseFile', 'name mtime')


def split_backup_directory(relative):
    """(container, backup ID) if relative is a backup directory's name."""
    parts = relative.split('/')
    if len(parts) < 4:
        return None
    container = '/'.join(parts[:-3])
    backup_id = parts[-1]
    try:
        if layout.backup_directory(container, backup_id) != relative:
            return None
    except Exception:
        # Not a valid container or ID: not ours.
        return None
    return container, backup_id


def _mtime(path):
    try:
        return os.lstat(path).st_mtime
    except FileNotFoundError:
        return None


def _walk_error(error):
    # A directory that cannot be listed must not pass for an empty one; one
    # removed meanwhile (a delete on another host) holds nothing.
    if not isinstance(error, FileNotFoundError):
        raise error


def _inside(top):
    """(newest mtime, file names, temp file names) below top."""
    newest = _mtime(top) or 0
    files, temps = [], []
    for dirpath, _dirs, names in os.walk(top, onerror=_walk_error):
        newest = max(newest, _mtime(dirpath) or 0)
        for name in names:
            relative = os.path.relpath(os.path.join(dirpath, name), top)
            mtime = _mtime(os.path.join(dirpath, name))
            if mtime is None:
                continue
            newest = max(newest, mtime)
            if posix_store.TEMP_MARK in name:
                temps.append(LooseFile(relative.replace(os.sep, '/'),
                                       mtime))
            else:
                files.append(relative.replace(os.sep, '/'))
    return newest, files, temps


def scan(root):
    """(backup directories, files outside them) under root."""
    directories = []
    loose = []
    for dirpath, dirs, names in os.walk(root, onerror=_walk_error):
        dirs.sort()
        relative = os.path.relpath(dirpath, root).replace(os.sep, '/')
        found = split_backup_directory(relative) if relative != '.' else None
        if found is not None:
            dirs[:] = []
            newest, files, temps = _inside(dirpath)
            directories.append(BackupDirectory(relative, found[0], found[1],
                                               newest, files, temps))
            continue
        for name in sorted(names):
            mtime = _mtime(os.path.join(dirpath, name))
            if mtime is not None:
                loose.append(LooseFile(
                    name if relative == '.' else relative + '/' + name,
                    mtime))
    return directories, loose
