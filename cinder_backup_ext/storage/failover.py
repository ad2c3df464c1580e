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
Connection calls recoverable, asks it to recover (for NFS: remount through
another address) and runs the same operation again.

That is safe because every operation the engine uses is idempotent and
whole-object: put_object writes a temporary file and renames it into place,
so a retried write replaces or repeats it; deletes of missing objects are
no error.  Streaming writers and readers cannot be replayed and are passed
through unwrapped.

A Connection has three methods:

    current()                   -> (generation, ObjectStore)
    recoverable(error)          -> bool
    recover(generation, error)  make a new generation usable, or raise

Operations run on several native threads at once: recover() receives the
generation the failed call used, so that of many threads failing together
only the first remounts and the others just retry on the new generation.
"""

from cinder_backup_ext.storage import wrapper


class FailoverStore(wrapper.WrappingStore):

    def __init__(self, connection, max_recoveries):
        self._connection = connection
        # However often the connection recovers, an operation that keeps
        # failing after this many recoveries is not a dead server but a
        # dead object: give up on it.
        self._max_recoveries = max_recoveries

    def _call(self, method, *args):
        recoveries = 0
        while True:
            generation, store = self._connection.current()
            try:
                return getattr(store, method)(*args)
            except Exception as error:
                if (recoveries >= self._max_recoveries or
                        not self._connection.recoverable(error)):
                    raise
                recoveries += 1
                self._connection.recover(generation, error)

    def _streams(self):
        return self._connection.current()[1]
