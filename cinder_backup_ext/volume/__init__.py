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

"""The volume file cinder-backup hands a driver.

Owns reading a volume into the engine's buffers and writing restored
bytes back, whatever the volume is (file, block device, RBD image), asking
a thin volume what it has allocated (volume_io), the Linux calls Python's
os module lacks (disk), the rate limits of one operation (throttle) and
the I/O priority of a backup's reads (io_priority).  It knows nothing of
backups or their format.

May import: runtime.
Must not import: storage, sealing, repository, nfs, engine, drivers,
cmd, devtools.
"""
