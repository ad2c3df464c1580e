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

"""The operator's commands: the ``cinder-backup-ext`` tool.

Owns verify, inspect (inspection), orphans, adopt and mount, what they
share (context: cinder.conf, the database, the configured driver; checks;
image; scan; progress) and the command line itself (main), which names
each subcommand, those of devtools too, by its module path.

May import: runtime, volume, storage, sealing, repository, nfs, engine,
drivers.
Must not import: devtools.
"""
