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

"""A real Keystone and Barbican on 127.0.0.1 for the encryption tests.

Both come from PyPI into a virtualenv of their own (service_venv), are
served by gunicorn and keep their data in sqlite files in a temporary
directory; services.KeyServices starts and stops them by PID.  Keystone is
the stack's fixture (tests.functional.stack.keystone), given sqlite
instead of the stack's PostgreSQL.
"""
