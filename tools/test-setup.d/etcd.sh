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

# The coordination back end of the production-shaped functional stack
# (tests/functional/stack/etcd.py): the cinder services and the operator
# tools share Cinder's tooz locks through it, as in devstack and most
# clouds.  The tests start a private etcd on loopback; the service Debian
# may start on install is stopped and disabled.
#   etcd-server  etcd 3.4, reached by tooz's etcd3gw driver

if [ -n "$(missing_debian_packages etcd-server)" ]; then
    apt_install etcd-server
    stop_system_service etcd
fi
