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

"""Every option this library adds, for oslo-config-generator.

Options that Cinder itself defines (backup_posix_path,
backup_compression_algorithm, backup_file_size, ...) are Cinder's and
appear in Cinder's own configuration reference, not here.
"""

from cinder_backup_ext.drivers import settings
from cinder_backup_ext.runtime import memory
from cinder_backup_ext.volume import io_priority
from cinder_backup_ext.volume import throttle


def list_opts():
    return [('DEFAULT', list(settings.chunked_opts) +
             list(throttle.throttle_opts) +
             list(io_priority.io_priority_opts) +
             list(memory.memory_opts))]
