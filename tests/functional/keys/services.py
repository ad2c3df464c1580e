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

"""KeyServices: Keystone and Barbican on loopback, and a backup owner.

One fixture for a whole test class: once the virtualenv exists it starts
in under a minute on a busy 2-core machine, most of it Keystone's
keystone-manage steps.  It creates a project and a user with the member role
in it, the kind of user whose backups get keys, and offers what the tests
need around castellan: the [barbican] options, a login for that user and
direct access to Barbican's REST API to look at or remove a secret behind
the library's back.

Set CBE_KEEP_STACK=1 to keep the work directory (configuration, logs,
databases) after the tests.
"""

import collections
import os
import shutil
import tempfile

from castellan import options as castellan_options
import fixtures
from oslo_config import cfg
import requests

from tests.functional.keys import barbican_server
from tests.functional.keys import service_venv
from tests.functional.stack import keystone
from tests.functional.stack import procs

OWNER = 'backup-owner'
OWNER_PASSWORD = 'cbe-owner-secret'
REQUEST_TIMEOUT = 30

# A project-scoped Keystone login.
Login = collections.namedtuple('Login', 'token user_id project_id')


class SqliteDatabases(object):
    """Databases for stack.keystone.Keystone without a PostgreSQL.

    That fixture only asks its database server for a connection URL.
    """

    def __init__(self, directory):
        self.directory = directory

    def create_database(self, name):
        return 'sqlite:///' + os.path.join(self.directory, name + '.sqlite')


class KeyServices(fixtures.Fixture):

    def __init__(self, bin_dir=None):
        """bin_dir: a virtualenv with keystone, barbican and gunicorn;
        by default the cached one of service_venv."""
        super().__init__()
        self.bin_dir = bin_dir

    def _setUp(self):
        bin_dir = self.bin_dir or service_venv.ensure()
        self.work_dir = tempfile.mkdtemp(prefix='cbe-keys-')
        if not os.environ.get('CBE_KEEP_STACK'):
            self.addCleanup(shutil.rmtree, self.work_dir, True)
        self.log_dir = os.path.join(self.work_dir, 'logs')
        os.makedirs(self.log_dir)
        self.keystone = self.useFixture(keystone.Keystone(
            self.work_dir, self.log_dir, SqliteDatabases(self.work_dir),
            bin_dir))
        self.barbican = self.useFixture(barbican_server.Barbican(
            self.work_dir, self.log_dir, bin_dir, self.keystone))
        # In the catalog as a real cloud has it, although the tests name
        # the endpoint in [barbican] as operators usually do.
        self.keystone.add_service('key-manager', self.barbican.url)
        self.keystone.add_user(OWNER, OWNER_PASSWORD, OWNER, ['member'])

    # --- castellan configuration ---

    def barbican_options(self):
        """[barbican] options of cinder.conf for these services."""
        return {
            'auth_endpoint': self.keystone.url,
            'barbican_endpoint': self.barbican.url,
        }

    def castellan_config(self):
        """A private ConfigOpts that points castellan at this Barbican."""
        conf = cfg.ConfigOpts()
        castellan_options.set_defaults(conf, backend='barbican',
                                       **self.barbican_options())
        conf([], default_config_files=[])
        return conf

    # --- logins ---

    def login(self, user=OWNER, password=OWNER_PASSWORD, project=OWNER):
        body = {'auth': {
            'identity': {'methods': ['password'], 'password': {'user': {
                'name': user, 'password': password,
                'domain': {'name': 'Default'}}}},
            'scope': {'project': {'name': project,
                                  'domain': {'name': 'Default'}}}}}
        resp = requests.post(self.keystone.url + '/auth/tokens', json=body,
                             timeout=REQUEST_TIMEOUT)
        resp.raise_for_status()
        token = resp.json()['token']
        return Login(resp.headers['X-Subject-Token'], token['user']['id'],
                     token['project']['id'])

    # --- Barbican's REST API, bypassing castellan ---

    def secret_url(self, key_id):
        return '%s/v1/secrets/%s' % (self.barbican.url, key_id)

    def secret_status(self, key_id, login=None):
        """HTTP status of GET on the secret's metadata: 200 or 404."""
        login = login or self.login()
        return requests.get(self.secret_url(key_id), timeout=REQUEST_TIMEOUT,
                            headers={'X-Auth-Token': login.token}).status_code

    def secret(self, key_id, login=None):
        """The secret's metadata (name, algorithm, bit_length, ...)."""
        login = login or self.login()
        resp = requests.get(self.secret_url(key_id), timeout=REQUEST_TIMEOUT,
                            headers={'X-Auth-Token': login.token})
        resp.raise_for_status()
        return resp.json()

    def secret_payload(self, key_id, login=None):
        """The secret's raw bytes: the key itself."""
        login = login or self.login()
        resp = requests.get(self.secret_url(key_id) + '/payload',
                            timeout=REQUEST_TIMEOUT,
                            headers={'X-Auth-Token': login.token,
                                     'Accept': 'application/octet-stream'})
        resp.raise_for_status()
        return resp.content

    def delete_secret(self, key_id, login=None):
        login = login or self.login()
        resp = requests.delete(self.secret_url(key_id),
                               timeout=REQUEST_TIMEOUT,
                               headers={'X-Auth-Token': login.token})
        resp.raise_for_status()

    def secret_names(self, login=None):
        """Names of all secrets of the login's project."""
        login = login or self.login()
        names = []
        url = self.barbican.url + '/v1/secrets?limit=100'
        while url:
            resp = requests.get(url, timeout=REQUEST_TIMEOUT,
                                headers={'X-Auth-Token': login.token})
            resp.raise_for_status()
            page = resp.json()
            names.extend(s['name'] for s in page['secrets'])
            url = page.get('next')
        return names

    def log_tails(self, lines=40):
        return ''.join(procs.log_tail(os.path.join(self.log_dir, n + '.log'),
                                      lines)
                       for n in ('keystone', 'barbican'))
