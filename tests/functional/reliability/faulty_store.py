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

"""An ObjectStore wrapper that fails on cue, and a driver that uses it.

FaultPlan says which storage operation (counted from 1 across all
operations of a driver call) fails and how: with an OSError (EIO, ESTALE,
ENOSPC...) before the operation, with one after it took effect (the write
landed, its acknowledgement was lost), for every operation from then on
(a server gone for good), or, for reads, by silently returning truncated
or bit-flipped bytes.  Retrying and failing over are wrapped the same way
(storage/failover.py), so this is where storage faults enter the engine.
"""

import errno
import os
import threading

from cinder_backup_ext.drivers import posix
from cinder_backup_ext.storage import posix as posix_store
from cinder_backup_ext.storage import wrapper

MODES = ('before', 'after', 'persistent', 'truncate', 'flip')
READ_ONLY_MODES = ('truncate', 'flip')


class FaultPlan(object):
    def __init__(self, at=None, mode='before', errnum=errno.EIO):
        self.at = at
        self.mode = mode
        self.errnum = errnum
        self.count = 0
        self.fired = 0
        self._lock = threading.Lock()

    def next(self):
        with self._lock:
            self.count += 1
            return self.count

    def error(self, what):
        self.fired += 1
        return OSError(self.errnum, os.strerror(self.errnum), what)


class FaultyStore(wrapper.WrappingStore):

    def __init__(self, inner, plan):
        self.inner = inner
        self.plan = plan

    def _call(self, method, *args):
        plan = self.plan
        number = plan.next()
        what = '/'.join(str(a) for a in args[:2])
        hit = plan.at is not None and (
            number == plan.at or
            (plan.mode == 'persistent' and number >= plan.at))
        if hit and plan.mode in ('before', 'persistent'):
            raise plan.error(what)
        result = getattr(self.inner, method)(*args)
        if hit and plan.mode == 'after':
            raise plan.error(what)
        if hit and method == 'get_object' and plan.mode in READ_ONLY_MODES:
            plan.fired += 1
            if plan.mode == 'truncate':
                return result[:len(result) // 2]
            flipped = bytearray(result)
            if flipped:
                flipped[len(flipped) // 3] ^= 0x10
            return bytes(flipped)
        return result

    def _streams(self):
        return self.inner


class FaultyPosixDriver(posix.PosixBackupDriver):
    """PosixBackupDriver whose store obeys the class's current plan."""

    plan = FaultPlan()

    def _create_store(self):
        return FaultyStore(posix_store.PosixStore(self.backup_path),
                           type(self).plan)
