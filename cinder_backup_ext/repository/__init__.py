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

"""The repository format: what a backup is on the share and in the database.

Owns format 2 (manifest: manifests and segment indexes; canonical_json:
the bytes its checksums and MACs cover), where a backup lives (layout),
reading and writing one backup's objects sealed and verified
(repository), what a backup's database record says about its stored data
(records), walking a chain of parents (chain), and backups written by
Cinder's own drivers, format 1.0.0 (legacy).  doc/source/format.rst is
its specification.

May import: runtime, volume, sealing.
Must not import: storage, nfs, engine, drivers, cmd, devtools.
"""
