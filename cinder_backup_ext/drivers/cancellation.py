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

"""Cancelling a running backup or restore through its record's status.

Owns the check a running operation makes between objects (at most once a
second, as Cinder's drivers do) and the exception that stops a backup whose
record is being deleted.  It reads backup records only: the driver
classes (chunked, posix, nfs) import it, never the other way round.
"""

import time

from cinder.objects import fields

# How often, at most, a running operation reads its status from the DB.
STATUS_CHECK_SECONDS = 1.0
# A backup whose record has one of these is being (or has been) deleted:
# as in Cinder, deleting a backup in progress cancels it.
_DELETING = (fields.BackupStatus.DELETING, fields.BackupStatus.DELETED)


class Cancelled(Exception):
    """The backup was deleted while it was written."""


def status_checker(backup, should_stop, on_stop):
    """Return a callback that raises on_stop() once should_stop(status)
    holds for the backup; it reads the DB at most once a second."""
    last = [0.0]

    def check(_position):
        now = time.monotonic()
        if now - last[0] < STATUS_CHECK_SECONDS:
            return
        last[0] = now
        with backup.as_read_deleted():
            backup.refresh()
        if should_stop(backup.status):
            raise on_stop()
    return check


def backup_checker(backup):
    """The status_checker of a running backup: Cancelled once it is being
    deleted."""
    return status_checker(backup, lambda status: status in _DELETING,
                          Cancelled)


def being_deleted(backup):
    """The backup's record says it is being (or has been) deleted."""
    try:
        with backup.as_read_deleted():
            backup.refresh()
    except Exception:
        return False
    return backup.status in _DELETING
