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

"""The cached virtualenv that Keystone and Barbican run from.

Built on first use from requirements.txt next to this module and reused
while that file is unchanged (see stack/tool_venv); CBE_KEY_SERVICES_VENV
names another location.
"""

import os

from tests.functional.stack import tool_venv

REQUIREMENTS = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            'requirements.txt')


def ensure(path=None):
    """The bin directory of the virtualenv, created or updated if needed."""
    return tool_venv.ensure_venv(REQUIREMENTS, 'key-services-venv',
                                 'CBE_KEY_SERVICES_VENV', path)
