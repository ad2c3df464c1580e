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

# Sourced by tools/demo.sh and tools/run-tests.sh: the Python environment
# both need, in .venv at the top of the checkout.
#
#   ensure_base_packages     python3 venv support, headers, a C compiler, git
#   missing_debian_packages PKG...  those of PKG... not installed
#   ensure_venv REQFILE...   create or reuse .venv; install the requirement
#                            files and the project (editable) when they
#                            changed since the last install

TOP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV_DIR=${VENV_DIR:-$TOP_DIR/.venv}
PYTHON=${PYTHON:-python3}

log() {
    echo "==> $*"
}

# Debian packages for the pieces that are missing; empty if none is.
missing_base_packages() {
    local missing=()
    if ! command -v "$PYTHON" >/dev/null 2>&1; then
        missing+=(python3)
    fi
    # A Debian python3 without python3-venv has the venv module but no
    # ensurepip, and "python3 -m venv" fails half-way.
    if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
        missing+=(python3-venv)
    fi
    if ! "$PYTHON" -c 'import os, sysconfig, sys
sys.exit(not os.path.exists(os.path.join(
    sysconfig.get_paths()["include"], "Python.h")))' >/dev/null 2>&1; then
        missing+=(python3-dev)
    fi
    if ! command -v gcc >/dev/null 2>&1 || ! command -v make >/dev/null 2>&1
    then
        missing+=(build-essential)
    fi
    # pbr reads the version from git.
    if ! command -v git >/dev/null 2>&1; then
        missing+=(git)
    fi
    echo "${missing[@]}"
}

# apt-get install the given Debian packages, updating the lists first.
apt_install() {
    if [ "$#" -eq 0 ]; then
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "error: need the Debian packages: $*; run as root or" \
             "install them first" >&2
        return 1
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "error: need the packages: $* (no apt-get here)" >&2
        return 1
    fi
    log "installing Debian packages: $*"
    export DEBIAN_FRONTEND=noninteractive
    local output status=0
    output=$(mktemp)
    # dpkg's progress is hundreds of lines; show it only if something fails.
    { apt-get update && \
        apt-get install -y --no-install-recommends "$@"; } \
        </dev/null >"$output" 2>&1 || status=$?
    if [ "$status" -ne 0 ]; then
        cat "$output" >&2
        echo "error: apt-get failed to install: $*" >&2
    fi
    rm -f "$output"
    return "$status"
}

# The Debian packages among the arguments that are not installed; empty
# where dpkg is not there to ask (such a host installs them by other means,
# and the tests that need them say so).
missing_debian_packages() {
    local package missing=()
    command -v dpkg-query >/dev/null 2>&1 || return 0
    for package in "$@"; do
        if ! dpkg-query -W -f '${Status}' "$package" 2>/dev/null \
                | grep -q 'install ok installed'; then
            missing+=("$package")
        fi
    done
    echo "${missing[@]}"
}

# stop_system_service NAME: stop and disable a service the package started.
stop_system_service() {
    local name=$1
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1
    then
        systemctl disable --now "$name" >/dev/null 2>&1 || true
    elif command -v service >/dev/null 2>&1; then
        service "$name" stop >/dev/null 2>&1 || true
        if command -v update-rc.d >/dev/null 2>&1; then
            update-rc.d "$name" disable >/dev/null 2>&1 || true
        fi
    fi
}

ensure_base_packages() {
    # shellcheck disable=SC2046
    apt_install $(missing_base_packages)
}

# pip, quiet, without this machine's noise about configured package
# locations that do not exist; real errors still show, and pip's exit
# status is kept.
quiet_pip() {
    local status=0
    "$VENV_DIR/bin/pip" -q --disable-pip-version-check "$@" 2>&1 \
        | grep -v -E '^WARNING: Location .* is ignored' || status=${PIPESTATUS[0]}
    return "$status"
}

ensure_venv() {
    if [ -x "$VENV_DIR/bin/python" ] && \
            ! "$VENV_DIR/bin/python" -c 'import sys' >/dev/null 2>&1; then
        log "removing broken virtualenv $VENV_DIR"
        rm -rf "$VENV_DIR"
    fi
    if [ ! -x "$VENV_DIR/bin/python" ]; then
        log "creating virtualenv $VENV_DIR"
        "$PYTHON" -m venv "$VENV_DIR"
        # Debian's bundled pip and setuptools would build the project the
        # legacy way, fetching pbr through easy_install; current ones with
        # pbr and wheel present do not.
        quiet_pip install -U pip setuptools wheel pbr
    fi
    local args=() stamp want
    for req in "$@"; do
        args+=(-r "$TOP_DIR/$req")
    done
    # Reinstall only when what pip would read changed: a second run then
    # starts in seconds.
    want=$(cd "$TOP_DIR" && cat "$@" setup.cfg setup.py | sha256sum \
           | cut -d' ' -f1)
    stamp="$VENV_DIR/.installed-$(echo "$*" | sha256sum | cut -c1-12)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return 0
    fi
    log "installing Python packages into $VENV_DIR (a few minutes the first time)"
    quiet_pip install "${args[@]}" -e "$TOP_DIR"
    echo "$want" > "$stamp"
}
