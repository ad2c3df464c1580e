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

"""What a backup's Cinder database record says about its stored data.

Owns the meaning of backups.service_metadata for this library: the format
mark, followed by the ID of the backup's key when it is encrypted.  Any
other non-empty value is the object prefix of a backup made by Cinder's
own chunked drivers (format 1.0.0).  The database, not the share, says
whether a backup is encrypted, so that nobody who can only write to the
share can turn an encrypted backup into a plain one.
"""

FORMAT_MARK = 'cinder_backup_ext:2'


def service_metadata(key_id=None):
    if key_id is None:
        return FORMAT_MARK
    return '%s:%s' % (FORMAT_MARK, key_id)


def is_ours(backup):
    value = backup.service_metadata or ''
    return value == FORMAT_MARK or value.startswith(FORMAT_MARK + ':')


def is_legacy(backup):
    return bool(backup.service_metadata) and not is_ours(backup)


def key_id(backup):
    """The ID of the backup's key, or None for a plain backup."""
    if not is_ours(backup) or backup.service_metadata == FORMAT_MARK:
        return None
    return backup.service_metadata[len(FORMAT_MARK) + 1:]
