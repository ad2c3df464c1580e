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

"""The data paths: backing up and restoring one volume.

Owns the write pipeline of a full or incremental backup (backup_job), the
read pipeline of a restore (restore_job), the parent as an incremental
sees it (parent), walking and clipping extent maps (extents), the
fingerprints of blocks (fingerprint) and proving restored blocks against
them (block_check).  It knows nothing of Cinder's driver API, files or
mounts: a driver gives it a store and a volume.

May import: runtime, volume, sealing, repository.
Must not import: storage, nfs, drivers, cmd, devtools.
"""
