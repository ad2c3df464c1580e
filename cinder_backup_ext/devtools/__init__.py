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

"""The development harness: the demo and the benchmark.

Owns the demo (a backup, an incremental and a restore of a generated
volume, checked byte for byte), the benchmark against Cinder's own driver
(bench), just enough of cinder-backup around a driver (harness), the
generated volumes (volumes, rbd_volumes) and what the machine can do at
most (machine_limits).  Operators run it to see the drivers work; the
drivers never need it.

May import: runtime, volume, storage, sealing, repository, nfs, engine,
drivers, cmd.
Must not import: the command line (cmd.main).
"""
