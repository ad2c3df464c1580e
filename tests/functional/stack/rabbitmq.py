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

"""A private RabbitMQ (Debian's rabbitmq-server) on 127.0.0.1.

oslo.messaging has no broker-less transport that works across processes,
so the cinder services need a real broker.  Everything it writes stays in
the work directory; it shares nothing with a system RabbitMQ, not even
epmd, which gets a private port so that it can be stopped with the stack.
"""

import os

import fixtures

from tests.functional.stack import procs

RABBITMQ_SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server'
START_TIMEOUT = 90


class RabbitMQ(fixtures.Fixture):

    def __init__(self, work_dir, log_dir):
        super().__init__()
        self.dir = os.path.join(work_dir, 'rabbitmq')
        self.log_dir = log_dir
        self.port = None

    @property
    def transport_url(self):
        return 'rabbit://guest:guest@127.0.0.1:%d/' % self.port

    def _setUp(self):
        if not os.access(RABBITMQ_SERVER, os.X_OK):
            raise procs.StackError(
                '%s is missing: run tools/test-setup.sh (Debian package '
                'rabbitmq-server)' % RABBITMQ_SERVER)
        os.makedirs(self.dir)
        self.port = procs.free_port()
        dist_port = procs.free_port()
        epmd_port = procs.free_port()
        config = os.path.join(self.dir, 'rabbitmq.conf')
        with open(config, 'w') as f:
            f.write('listeners.tcp.1 = 127.0.0.1:%d\n' % self.port)
            # The default 50 MB free-disk alarm would block publishers on
            # a nearly full CI disk long before the tests run out of space.
            f.write('disk_free_limit.absolute = 1MB\n')
        env = dict(os.environ)
        env.update({
            'HOME': self.dir,  # the Erlang cookie
            'RABBITMQ_NODENAME': 'cbe%d@localhost' % self.port,
            'RABBITMQ_NODE_IP_ADDRESS': '127.0.0.1',
            'RABBITMQ_NODE_PORT': str(self.port),
            'RABBITMQ_DIST_PORT': str(dist_port),
            'RABBITMQ_CONFIG_FILE': config,
            'RABBITMQ_CONF_ENV_FILE': os.path.join(self.dir, 'env.conf'),
            'RABBITMQ_ADVANCED_CONFIG_FILE': os.path.join(
                self.dir, 'advanced.config'),
            'RABBITMQ_ENABLED_PLUGINS_FILE': os.path.join(
                self.dir, 'enabled_plugins'),
            'RABBITMQ_MNESIA_BASE': os.path.join(self.dir, 'mnesia'),
            'RABBITMQ_LOG_BASE': os.path.join(self.dir, 'log'),
            'RABBITMQ_PID_FILE': os.path.join(self.dir, 'rabbitmq.pid'),
            'ERL_EPMD_ADDRESS': '127.0.0.1',
            'ERL_EPMD_PORT': str(epmd_port),
            'RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS':
                '-kernel inet_dist_use_interface {127,0,0,1}',
        })
        with open(env['RABBITMQ_ENABLED_PLUGINS_FILE'], 'w') as f:
            f.write('[].\n')
        # epmd outlives the broker and leaves its process group: stop it
        # last, by the port only it listens on.
        self.addCleanup(self._stop_epmd, epmd_port)
        self.server = self.useFixture(procs.Service(
            'rabbitmq', [RABBITMQ_SERVER], self.log_dir, env=env,
            cwd=self.dir))
        self.server.wait_for_port(self.port, START_TIMEOUT)

    @staticmethod
    def _stop_epmd(port):
        for pid in procs.pids_listening_on(port):
            procs.kill_pid(pid, group=False)
