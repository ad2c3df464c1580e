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

# System packages the tests need, installed only when missing (the
# OpenStack convention: CI and developers run this before the tests).
# Needs root for apt-get when something is missing.

set -euo pipefail

# shellcheck source=tools/venv.sh
source "$(dirname "${BASH_SOURCE[0]}")/venv.sh"

ensure_base_packages

# Each piece of the test suite that needs system services (an NFS server,
# a message broker, a database, ...) installs them in its own file here, so
# the pieces stay independent: tools/test-setup.d/NAME.sh, sourced in name
# order, may call apt_install and log.
for part in "$(dirname "${BASH_SOURCE[0]}")"/test-setup.d/*.sh; do
    [ -e "$part" ] || continue
    log "test setup: $(basename "$part")"
    # shellcheck disable=SC1090
    source "$part"
done
