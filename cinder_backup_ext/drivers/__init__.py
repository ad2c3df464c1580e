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

"""Cinder's backup driver API, and what the drivers decide.

Owns the classes an operator names in backup_driver: ChunkedBackupDriver
(chunked), PosixBackupDriver (posix) and NFSBackupDriver (nfs); the
options and settings of an operation (settings), the life of a backup's
key (backup_keys), the parents and children in the database (lineage),
cancellation through a record's status (cancellation) and progress
notifications (notifications).

May import: runtime, volume, storage, sealing, repository, nfs, engine.
Must not import: cmd, devtools.
"""
