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

"""Cinder backup drivers: verified, optionally encrypted backups on POSIX
file systems and NFS shares, chunked and incremental.

The packages are layers, listed here from the bottom up.  Each package's
docstring says what it owns, which packages it may import and which it
must not; tools/check_layers.py holds the code to those lines (in the pep8
stage and in the unit tests).

    runtime      native workers beside eventlet, buffers, process setup
    volume       the volume file: read, write, allocation, rate limits
    storage      named objects in containers: POSIX, failover, in memory
    sealing      compression, AES-256-GCM, object sealing, castellan keys
    repository   format 2, layout, database records, chains, format 1.0.0
    nfs          one export through several addresses: mounts, failover
    engine       backup and restore of one volume, extents, fingerprints
    drivers      Cinder's driver API: chunked, posix and nfs drivers
    cmd          the operator's commands: verify, inspect, orphans, ...
    devtools     the demo and the benchmark, and their helpers

Shared by every package: exception, i18n.
Imported by no module: opts, cmd.main.
"""
