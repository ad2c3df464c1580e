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
# shellcheck shell=bash

# The encryption functional tests against a real Barbican
# (tests/functional/test_encryption_barbican.py, tests/functional/keys):
#   cryptsetup-bin  cryptsetup, to make a LUKS2 volume in a regular file
# Keystone and Barbican themselves come from PyPI into a cached virtualenv
# the tests build on first use.  Sourced by tools/test-setup.sh; installs
# only what is missing.

# shellcheck disable=SC2046
apt_install $(missing_debian_packages cryptsetup-bin)
