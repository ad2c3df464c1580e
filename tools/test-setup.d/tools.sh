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

# The operator tools' functional tests (tests/functional/test_tools_*.py):
#   e2fsprogs  mkfs.ext4 and debugfs, to build the ext4 image that the mount
#              test backs up and reads back through FUSE and a loop mount
#   fuse3      libfuse3 and fusermount3, for `cinder-backup-ext mount`
#   mount      mount and umount (util-linux), for the read-only loop mount
# Sourced by tools/test-setup.sh; installs only what is missing.

# shellcheck disable=SC2046
apt_install $(missing_debian_packages e2fsprogs fuse3 mount)
