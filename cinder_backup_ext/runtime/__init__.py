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

"""How the library runs in cinder-backup's process.

Owns native worker threads beside eventlet's hub (concurrency), reusable
object-sized buffers and the shared zero blocks (buffers), whether freed
index memory goes back to the kernel (memory), and setting a process up
the way cinder-backup does for the tools that run outside it (process).
It knows nothing of volumes, backups or their format.

May import: nothing of the other packages.
Must not import: volume, storage, sealing, repository, nfs, engine,
drivers, cmd, devtools.
"""
