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

"""Barbican on 127.0.0.1 under gunicorn, authenticating with Keystone.

The data lives in a sqlite file; secrets are wrapped by the simple_crypto
plugin with a random key encryption key kept in the configuration file
(fine for a test, not for a cloud).  The server can be stopped and started
again on the same port and data, so a test can simulate an outage.

Barbican's secret-store plugins read their configuration only from the
default locations (~/.barbican/barbican.conf, /etc/barbican/...), so the
server runs with $HOME pointing at this fixture's directory.  The paste
pipeline is written here rather than taken from the package: the shipped
one names files under /etc, and its unauthenticated pipeline fails every
request in 23.0.0.
"""

import base64
import configparser
import os

import requests

from tests.functional.stack import procs

START_TIMEOUT = 120

_MIDDLEWARE = 'barbican.api.middleware.'

# Barbican's own pipelines, minus the filters that read files under /etc.
PASTE_SECTIONS = {
    'composite:main': {
        'use': 'egg:Paste#urlmap',
        '/': 'versions',
        '/v1': 'api_v1',
    },
    'pipeline:versions': {
        'pipeline': 'request_id http_proxy_to_wsgi microversion versionapp',
    },
    'pipeline:api_v1': {
        'pipeline': 'request_id http_proxy_to_wsgi authtoken context '
                    'microversion apiapp',
    },
    'app:apiapp': {
        'paste.app_factory': 'barbican.api.app:create_main_app',
    },
    'app:versionapp': {
        'paste.app_factory': 'barbican.api.app:create_version_app',
    },
    'filter:context': {
        'paste.filter_factory':
            _MIDDLEWARE + 'context:ContextMiddleware.factory',
    },
    'filter:microversion': {
        'paste.filter_factory':
            _MIDDLEWARE + 'microversion:MicroversionMiddleware.factory',
    },
    'filter:authtoken': {
        'paste.filter_factory': 'keystonemiddleware.auth_token:filter_factory',
    },
    'filter:request_id': {
        'paste.filter_factory': 'oslo_middleware.request_id:RequestId.factory',
    },
    'filter:http_proxy_to_wsgi': {
        'paste.filter_factory': 'oslo_middleware:HTTPProxyToWSGI.factory',
    },
}

WSGI_WRAPPER = '''\
import sys

# Keep gunicorn's command line away from oslo.config.
sys.argv = sys.argv[:1]

from paste import deploy  # noqa: E402

application = deploy.loadapp('config:%s')
'''


class Barbican(procs.RestartableServer):
    """Barbican's API; keystone is a started stack.keystone.Keystone."""

    start_timeout = START_TIMEOUT

    def __init__(self, work_dir, log_dir, bin_dir, keystone):
        super().__init__()
        self.dir = os.path.join(work_dir, 'barbican')
        self.log_dir = log_dir
        self.bin_dir = bin_dir
        self.keystone = keystone
        self.port = None
        self._token = None

    @property
    def url(self):
        return 'http://127.0.0.1:%d' % self.port

    def prepare(self):
        os.makedirs(os.path.join(self.dir, '.barbican'))
        self.port = procs.free_port()
        self._write_config()

    def _write_config(self):
        conf = _config()
        conf['DEFAULT'] = {
            'host_href': self.url,
            # Creates the tables on first start: no barbican-manage step.
            'db_auto_create': 'true',
        }
        conf['database'] = {'connection': 'sqlite:///' + os.path.join(
            self.dir, 'barbican.sqlite')}
        conf['keystone_authtoken'] = self.keystone.authtoken_options()
        # The key that wraps every project's key; 23.0.0 has no default.
        conf['simple_crypto_plugin'] = {
            'kek': base64.urlsafe_b64encode(os.urandom(32)).decode()}
        with open(os.path.join(self.dir, '.barbican', 'barbican.conf'),
                  'w') as f:
            conf.write(f)
        paste = os.path.join(self.dir, 'barbican-api-paste.ini')
        paste_conf = _config()
        paste_conf.read_dict(PASTE_SECTIONS)
        with open(paste, 'w') as f:
            paste_conf.write(f)
        with open(os.path.join(self.dir, 'barbican_wsgi.py'), 'w') as f:
            f.write(WSGI_WRAPPER % paste)

    def service(self):
        # Deprecation warnings at import would bury the log's real errors.
        env = dict(os.environ, HOME=self.dir,
                   PYTHONWARNINGS='ignore::DeprecationWarning')
        self._token = self.keystone.admin_token()
        # One synchronous worker: sqlite has one writer at a time anyway,
        # and the tests send one request at a time.
        return procs.Service(
            'barbican',
            [os.path.join(self.bin_dir, 'gunicorn'), '--chdir', self.dir,
             '--bind', '127.0.0.1:%d' % self.port, '--workers', '1',
             '--timeout', '120', 'barbican_wsgi:application'],
            self.log_dir, env=env, cwd=self.dir)

    def ready(self):
        # An authenticated request proves the whole pipeline, Keystone
        # included; the version document alone would not.
        try:
            resp = requests.get(self.url + '/v1/secrets', timeout=5,
                                headers={'X-Auth-Token': self._token})
            return resp.status_code == 200
        except requests.RequestException:
            return False


def _config():
    conf = configparser.ConfigParser(interpolation=None)
    # Paste's section keys are case-sensitive paths and factory names.
    conf.optionxform = str
    return conf
