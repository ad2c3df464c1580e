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

# Sourced by tools/test-setup.sh: what the real-Cinder functional tests
# (tests/functional/stack) and the devstack plugin's lint need.
#
#   rabbitmq-server: the message broker of the test stack;
#   postgresql: the test stack's database (SQLite locks up under four
#     cinder services);
#   the shellcheck linter: for the devstack plugin and tools/.
#
# The tests start private instances of the broker and the database; the
# services Debian starts on install are stopped and disabled, so that they
# neither hold memory nor collide with the tests.  Keystone and tempest
# come from PyPI into a virtualenv of their own, built by the tempest test
# on first use (tests/functional/stack/tool_venv.py).

cinder_stack_missing_packages() {
    local missing=()
    [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || missing+=(rabbitmq-server)
    compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null \
        || missing+=(postgresql)
    command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
    echo "${missing[@]}"
}

cinder_stack_packages=$(cinder_stack_missing_packages)
if [ -n "$cinder_stack_packages" ]; then
    # shellcheck disable=SC2086
    apt_install $cinder_stack_packages
    for service in rabbitmq-server postgresql; do
        stop_system_service "$service"
    done
fi
unset cinder_stack_packages
