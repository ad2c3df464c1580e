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

# The NFS driver's functional tests (tests/functional/test_nfs_*.py):
#   nfs-ganesha, nfs-ganesha-vfs  the NFSv4 server, one per loopback address
#   nfs-common                    /sbin/mount.nfs, which the tests' stand-in
#                                 client replaces inside a private mount
#                                 namespace when the kernel has no NFS client
#   fuse3                         libfuse3 for that stand-in (mfusepy)
# Sourced by tools/test-setup.sh; installs only what is missing.

# shellcheck disable=SC2046
apt_install $(missing_debian_packages nfs-ganesha nfs-ganesha-vfs nfs-common fuse3)
