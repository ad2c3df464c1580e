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

"""A private Keystone on 127.0.0.1, under gunicorn, for the tempest run.

Keystone comes from the tool virtualenv (tool_venv); its database is one
more database in the stack's PostgreSQL.  Bootstrapped with an admin in
project "admin"; tempest's users are added by the tempest fixture.
"""

import os
import time

import fixtures
import requests

from tests.functional.stack import procs

ADMIN_PASSWORD = 'cbe-admin-secret'
REGION = 'RegionOne'
START_TIMEOUT = 120

WSGI_WRAPPER = '''\
import sys

# Keystone's application parses sys.argv as its own command line; under
# gunicorn that is gunicorn's.
sys.argv = sys.argv[:1]

from keystone.server import wsgi  # noqa: E402

application = wsgi.initialize_public_application()
'''


class Keystone(fixtures.Fixture):

    def __init__(self, work_dir, log_dir, postgres, bin_dir):
        super().__init__()
        self.dir = os.path.join(work_dir, 'keystone')
        self.log_dir = log_dir
        self.postgres = postgres
        self.bin_dir = bin_dir
        self.port = None
        self._admin_project_id = None
        self._admin_token = None

    @property
    def url(self):
        return 'http://127.0.0.1:%d/v3' % self.port

    def _setUp(self):
        os.makedirs(self.dir)
        self.port = procs.free_port()
        conf = os.path.join(self.dir, 'keystone.conf')
        with open(conf, 'w') as f:
            # The fewest bcrypt rounds: the tests and the CLI log in with
            # passwords all the time, and a hash costs a real cloud's
            # rounds of CPU each time.
            f.write('[database]\nconnection = %s\n'
                    '[identity]\npassword_hash_rounds = 4\n'
                    '[token]\nprovider = fernet\n'
                    '[fernet_tokens]\nkey_repository = %s\n'
                    '[credential]\nkey_repository = %s\n' % (
                        self.postgres.create_database('keystone'),
                        os.path.join(self.dir, 'fernet-keys'),
                        os.path.join(self.dir, 'credential-keys')))
        env = dict(os.environ, OS_KEYSTONE_CONFIG_FILES=conf)
        manage = [os.path.join(self.bin_dir, 'keystone-manage'),
                  '--config-file', conf]
        procs.run(manage + ['db_sync'], 'keystone-manage db_sync', 300,
                  env=env)
        for what in ('fernet_setup', 'credential_setup'):
            procs.run(manage + [what, '--keystone-user', 'root',
                                '--keystone-group', 'root'],
                      'keystone-manage ' + what, 60, env=env)
        procs.run(manage + [
            'bootstrap', '--bootstrap-password', ADMIN_PASSWORD,
            '--bootstrap-region-id', REGION,
            '--bootstrap-admin-url', self.url,
            '--bootstrap-internal-url', self.url,
            '--bootstrap-public-url', self.url],
            'keystone-manage bootstrap', 120, env=env)
        with open(os.path.join(self.dir, 'keystone_wsgi.py'), 'w') as f:
            f.write(WSGI_WRAPPER)
        self.server = self.useFixture(procs.Service(
            'keystone',
            [os.path.join(self.bin_dir, 'gunicorn'), '--chdir', self.dir,
             '--bind', '127.0.0.1:%d' % self.port, '--workers', '2',
             '--timeout', '120', 'keystone_wsgi:application'],
            self.log_dir, env=env, cwd=self.dir))
        self.server.wait_until('answering on %s' % self.url, self._answers,
                               START_TIMEOUT)

    def _answers(self):
        try:
            return requests.get(self.url, timeout=5).status_code == 200
        except requests.RequestException:
            return False

    # --- tokens and resources ---

    def token(self, user, password, project, domain='Default'):
        """(token, project ID) of a project-scoped password login."""
        body = {'auth': {
            'identity': {'methods': ['password'], 'password': {'user': {
                'name': user, 'password': password,
                'domain': {'name': domain}}}},
            'scope': {'project': {'name': project,
                                  'domain': {'name': domain}}}}}
        resp = requests.post(self.url + '/auth/tokens', json=body,
                             timeout=30)
        resp.raise_for_status()
        return (resp.headers['X-Subject-Token'],
                resp.json()['token']['project']['id'])

    def admin_token(self):
        """The admin's token, renewed every ten minutes (they live an
        hour): tests poll the API several times a second, and a password
        login per request kept Keystone busy hashing passwords."""
        now = time.monotonic()
        if self._admin_token is None or now - self._admin_token[1] > 600:
            token, self._admin_project_id = self.token(
                'admin', ADMIN_PASSWORD, 'admin')
            self._admin_token = (token, now)
        return self._admin_token[0]

    @property
    def admin_project_id(self):
        self.admin_token()
        return self._admin_project_id

    def _post(self, path, body):
        resp = requests.post(self.url + path, json=body, timeout=30,
                             headers={'X-Auth-Token': self.admin_token()})
        resp.raise_for_status()
        return resp.json()

    def _find(self, collection, name):
        resp = requests.get(self.url + '/' + collection,
                            params={'name': name}, timeout=30,
                            headers={'X-Auth-Token': self.admin_token()})
        resp.raise_for_status()
        return resp.json()[collection][0]['id']

    def add_service(self, service_type, url):
        """A catalog entry of service_type at url, in all interfaces;
        nothing if the catalog has one already."""
        resp = requests.get(self.url + '/services',
                            params={'type': service_type}, timeout=30,
                            headers={'X-Auth-Token': self.admin_token()})
        resp.raise_for_status()
        if resp.json()['services']:
            return
        service = self._post('/services', {'service': {
            'type': service_type, 'name': service_type}})['service']
        for interface in ('public', 'internal', 'admin'):
            self._post('/endpoints', {'endpoint': {
                'service_id': service['id'], 'interface': interface,
                'url': url, 'region_id': REGION}})

    def add_user(self, name, password, project, roles):
        """A user with roles in project (created if missing)."""
        try:
            project_id = self._find('projects', project)
        except IndexError:
            project_id = self._post('/projects', {'project': {
                'name': project, 'domain_id': 'default'}})['project']['id']
        user_id = self._post('/users', {'user': {
            'name': name, 'password': password,
            'domain_id': 'default'}})['user']['id']
        for role in roles:
            role_id = self._find('roles', role)
            resp = requests.put(
                '%s/projects/%s/users/%s/roles/%s' % (
                    self.url, project_id, user_id, role_id),
                headers={'X-Auth-Token': self.admin_token()}, timeout=30)
            resp.raise_for_status()

    def cli_credentials(self):
        """OS_* variables of the admin for openstackclient and
        cinderclient."""
        return {
            'OS_AUTH_TYPE': 'password',
            'OS_AUTH_URL': self.url,
            'OS_IDENTITY_API_VERSION': '3',
            'OS_USERNAME': 'admin',
            'OS_PASSWORD': ADMIN_PASSWORD,
            'OS_PROJECT_NAME': 'admin',
            'OS_USER_DOMAIN_NAME': 'Default',
            'OS_PROJECT_DOMAIN_NAME': 'Default',
            'OS_REGION_NAME': REGION,
            'OS_INTERFACE': 'public',
        }

    def authtoken_options(self):
        """cinder.conf [keystone_authtoken] for this Keystone."""
        return {
            'auth_type': 'password',
            'auth_url': self.url,
            'www_authenticate_uri': self.url,
            'username': 'admin',
            'password': ADMIN_PASSWORD,
            'project_name': 'admin',
            'user_domain_name': 'Default',
            'project_domain_name': 'Default',
            'region_name': REGION,
            # keystonemiddleware looks for the internal identity endpoint
            # otherwise.
            'interface': 'public',
        }
