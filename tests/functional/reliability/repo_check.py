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

"""What a repository holds, seen through the file system only.

A backup directory is ``<container>/<h[0:2]>/<h[2:4]>/<backup ID>``
(doc/source/format.rst); it is complete if and only if its manifest.json
validates, and debris when it has no manifest.  These helpers let the tests
check those rules after crashes, full disks and races without asking the
driver.
"""

import os

from cinder_backup_ext.repository import layout
from cinder_backup_ext.repository import manifest
from cinder_backup_ext.storage import posix as posix_store


def backup_directories(root):
    """{backup ID: absolute directory} of every backup directory."""
    found = {}
    for dirpath, dirs, _files in os.walk(root):
        for name in dirs:
            try:
                fan = layout.fan_out(name)
            except Exception:  # nosec B112 - not a backup directory
                continue
            relative = os.path.relpath(os.path.join(dirpath, name), root)
            if relative.endswith('/%s/%s' % (fan, name)):
                found[name] = os.path.join(dirpath, name)
    return found


def manifest_failures(root):
    """[(backup ID, reason)] for every manifest.json that does not
    validate."""
    failures = []
    for backup_id, directory in sorted(backup_directories(root).items()):
        path = os.path.join(directory, layout.MANIFEST)
        if not os.path.exists(path):
            continue
        with open(path, 'rb') as f:
            data = f.read()
        try:
            manifest.decode_manifest(data, backup_id)
        except manifest.ManifestError as error:
            failures.append((backup_id, str(error)))
    return failures


def complete_backups(root):
    return sorted(backup_id for backup_id, directory
                  in backup_directories(root).items()
                  if os.path.exists(os.path.join(directory,
                                                 layout.MANIFEST)))


def debris(root):
    """Backup directories without a manifest: what a crash leaves."""
    return sorted(backup_id for backup_id, directory
                  in backup_directories(root).items()
                  if not os.path.exists(os.path.join(directory,
                                                     layout.MANIFEST)))


def temp_files(root):
    found = []
    for dirpath, _dirs, files in os.walk(root):
        found.extend(os.path.relpath(os.path.join(dirpath, name), root)
                     for name in files if posix_store.TEMP_MARK in name)
    return sorted(found)


def files(root):
    found = []
    for dirpath, _dirs, names in os.walk(root):
        found.extend(os.path.relpath(os.path.join(dirpath, name), root)
                     for name in names)
    return sorted(found)


def bytes_used(root):
    total = 0
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            total += os.lstat(os.path.join(dirpath, name)).st_size
    return total
