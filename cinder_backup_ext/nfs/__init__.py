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

"""One NFS export reachable through several addresses.

Owns parsing backup_share and mounting through os-brick (remotefs), the
connection of one operation to the share with failover between addresses
(share), and the marker that proves every address reaches the same
repository (share_marker).

May import: runtime, storage, repository.
Must not import: volume, sealing, engine, drivers, cmd, devtools.
"""
