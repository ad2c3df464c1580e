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

"""A private etcd on 127.0.0.1: the stack's coordination back end.

Debian's etcd-server (3.4), one member, its data under the stack's work
directory, on free ports.  Cinder's tooz locks reach it through the
etcd3gw driver (``etcd3+http://127.0.0.1:PORT?api_version=v3``, as
devstack configures it).  It can be stopped and started again on the same
port and data, so that a test can take the coordination back end away.
"""

import os
import shutil

import requests

from tests.functional.stack import procs

ETCD = shutil.which('etcd') or '/usr/bin/etcd'
START_TIMEOUT = 60


def missing():
    """Why etcd cannot run here, or None."""
    if not os.path.exists(ETCD):
        return 'needs etcd (tools/test-setup.d/etcd.sh installs etcd-server)'
    return None


class Etcd(procs.RestartableServer):

    start_timeout = START_TIMEOUT

    def __init__(self, work_dir, log_dir):
        super().__init__()
        self.dir = os.path.join(work_dir, 'etcd')
        self.log_dir = log_dir
        self.port = None
        self.peer_port = None

    @property
    def client_url(self):
        return 'http://127.0.0.1:%d' % self.port

    @property
    def backend_url(self):
        """[coordination] backend_url for tooz."""
        return 'etcd3+http://127.0.0.1:%d?api_version=v3' % self.port

    def prepare(self):
        os.makedirs(self.dir)
        self.port = procs.free_port()
        self.peer_port = procs.free_port()

    def service(self):
        peer = 'http://127.0.0.1:%d' % self.peer_port
        return procs.Service(
            'etcd',
            [ETCD, '--name', 'cbe', '--data-dir',
             os.path.join(self.dir, 'data'),
             '--listen-client-urls', self.client_url,
             '--advertise-client-urls', self.client_url,
             '--listen-peer-urls', peer,
             '--initial-advertise-peer-urls', peer,
             '--initial-cluster', 'cbe=' + peer,
             '--initial-cluster-state', 'new'],
            self.log_dir, cwd=self.dir)

    def ready(self):
        # The JSON gateway tooz uses, not just the port.
        try:
            resp = requests.post(self.client_url + '/v3/maintenance/status',
                                 json={}, timeout=2)
            return resp.status_code == 200
        except requests.RequestException:
            return False
