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

"""Named byte strings in containers: the interface the engine writes through.

Owns the interface (base, like restic's backend), its POSIX
implementation with atomic, durable writes (posix), wrapping a store to
add retries, failover or faults (wrapper, failover) and an in-memory
store for unit tests (memory).  It knows nothing of backups, formats or
mounts.

May import: runtime.
Must not import: volume, sealing, repository, nfs, engine, drivers, cmd,
devtools.
"""
