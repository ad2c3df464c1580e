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

"""Turning plaintext into a stored object and back, and the keys for it.

Owns compression (codec), what is derived from a backup's key and the
AES-256-GCM sealing of an object (crypto), the per-object transform chain
with its digest (sealing) and the only calls to the key manager through
castellan (keys).  It knows nothing of manifests, layouts or volumes.

May import: runtime.
Must not import: volume, storage, repository, nfs, engine, drivers, cmd,
devtools.
"""
