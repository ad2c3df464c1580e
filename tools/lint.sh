#!/bin/bash
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

# The pep8 checks, defined once for tools/run-tests.sh and tox -e pep8 so
# that both check the same files the same way:
#   tools/lint.sh [flake8|bandit|shellcheck|layers]...
# runs the named checks, all four without arguments, each even if an
# earlier one failed; the exit status is non-zero if any failed.  flake8
# and bandit come from the virtualenv on PATH, shellcheck from the system
# (tools/test-setup.d/cinder-stack.sh).

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Every shell script of the repository: the devstack plugin, CI's entry
# point and tools/ (the setup parts are sourced, hence -x and -s bash).
SHELL_FILES=(.ci/run devstack/plugin.sh devstack/settings tools/*.sh
             tools/test-setup.d/*.sh)

check() {
    case "$1" in
        flake8) flake8 cinder_backup_ext tests tools ;;
        bandit) bandit -q -r cinder_backup_ext -x tests -ll ;;
        shellcheck) shellcheck -x -s bash "${SHELL_FILES[@]}" ;;
        # No module imports a layer its package's docstring forbids.
        layers) python3 tools/check_layers.py ;;
        *) echo "lint.sh: unknown check $1" >&2; return 2 ;;
    esac
}

[ "$#" -ne 0 ] || set -- flake8 bandit shellcheck layers
status=0
for name in "$@"; do
    check "$name" || status=1
done
exit "$status"
