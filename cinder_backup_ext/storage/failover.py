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

"""An ObjectStore that survives the loss of the path to its data.

Retries are added by wrapping (as restic does), not by loops in the engine:
FailoverStore forwards each whole-object operation to the store a
Connection hands out and, when the operation fails with an error the
Connection calls recoverable, has it recover (for NFS: remount through
another address) and runs the same operation again.

That is safe because every operation the engine uses is idempotent and
whole-object: put_object writes a temporary file and renames it into place,
so a retried write replaces or repeats it; deletes of missing objects are
no error.  Streaming writers and readers cannot be replayed and are passed
through unwrapped.

Connecting and recovering mount file systems (os-brick, privsep, a lock),
which must never happen on a native worker (concurrency's rule).  So on a
native worker an operation that needs them raises concurrency.HandBack:
the operation's own thread runs the recovery when it collects the step,
and runs the step again.  Called on any other thread, the recovery runs
inline.

A Connection has four methods:

    current()                   -> (generation, ObjectStore or None);
                                   never mounts; None until connected
    is_current(generation)      -> bool: nothing was remounted since
    recoverable(error)          -> bool
    recover(generation, error)  connect (error None) or make a new
                                generation usable; raise if it cannot;
                                a no-op if generation is not current

Operations run on several native threads at once: recover() receives the
generation the failed call used, so that of many steps failing together
only the first remounts and the others just run again on the new
generation.
"""

import functools

from cinder_backup_ext import exception
from cinder_backup_ext.runtime import concurrency
from cinder_backup_ext.storage import wrapper


class FailoverStore(wrapper.WrappingStore):

    def __init__(self, connection, max_recoveries):
        self._connection = connection
        # However often the connection recovers, an operation that keeps
        # failing after this many recoveries is not a dead server but a
        # dead object: give up on it.
        self._max_recoveries = max_recoveries

    def _attempt(self, method, args):
        """(True, result) or (False, the error that needs a recovery, or
        None when there is no connection yet)."""
        generation, store = self._connection.current()
        if store is None:
            return False, generation, None
        try:
            result = getattr(store, method)(*args)
        except Exception as error:
            # An error while the share was remounted under the call (ENOENT
            # in an empty mount point, say) is the remount's, not the
            # object's.
            if not (self._connection.recoverable(error) or
                    not self._connection.is_current(generation)):
                raise
            return False, generation, error
        if not self._connection.is_current(generation):
            # It may have run in the bare mount point while the share was
            # remounted: run it again on the new mount.
            return False, generation, None
        return True, result, None

    def _call(self, method, *args):
        recoveries = 0
        reruns = 0
        while True:
            done, value, error = self._attempt(method, args)
            if done:
                return value
            if error is not None:
                if recoveries >= self._max_recoveries:
                    raise error
                recoveries += 1
            else:
                # Connecting, or running again after a remount: bounded by
                # the remounts, which are bounded; this is a safety net.
                reruns += 1
                if reruns > self._max_recoveries + 1:
                    raise exception.StorageError(
                        '%s: the share was remounted under every attempt'
                        % method)
            remedy = functools.partial(self._connection.recover, value,
                                       error)
            if concurrency.on_native_worker():
                # A connect, then at most max_recoveries recoveries.
                raise concurrency.HandBack(remedy, error,
                                           self._max_recoveries + 1)
            remedy()

    def _streams(self):
        while True:
            generation, store = self._connection.current()
            if store is not None:
                return store
            remedy = functools.partial(self._connection.recover, generation,
                                       None)
            if concurrency.on_native_worker():
                raise concurrency.HandBack(remedy)
            remedy()
