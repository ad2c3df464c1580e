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

# Ceph RBD volumes in the functional tests (tests/functional/stack/ceph.py,
# test_rbd_stack.py) and the benchmark's RBD scenario (tools/bench_rbd.py):
#   ceph-mon, ceph-osd, ceph-mgr  a throwaway single-node cluster on
#                                 127.0.0.1, started and stopped by the tests
#   ceph-common                   the ceph and rbd commands
#   python3-rados, python3-rbd    librados and librbd for Cinder's RBD
#                                 driver, os-brick's RBD connector and the
#                                 tests (linked into their Python path)
# apt_install leaves recommended packages out.  Debian starts no Ceph
# daemon on install.

# shellcheck disable=SC2046
apt_install $(missing_debian_packages ceph-mon ceph-osd ceph-mgr \
    ceph-common python3-rados python3-rbd)
