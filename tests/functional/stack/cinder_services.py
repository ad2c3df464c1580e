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

"""cinder-api, cinder-volume, cinder-backup and cinder-scheduler, for real.

The Cinder installed next to this library (requirements.txt), configured by
a cinder.conf written here: the volume backend is the sparse-file test
driver, the backup driver is the one under test.  Services run as the
current user (root in CI): os-brick's privsep helper is started directly
instead of through ``sudo cinder-rootwrap``, which needs a sudo and a
rootwrap filter for this configuration directory.
"""

import configparser
import os
import sys
import time

import fixtures
import requests

from tests.functional.stack import procs

VENV_BIN = os.path.dirname(sys.executable)
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))))
VOLUME_DRIVER = ('tests.functional.stack.file_volume_driver.'
                 'SparseFileVolumeDriver')
BACKEND = 'file'
NOAUTH_TOKEN = 'admin:admin'
NOAUTH_PROJECT = 'admin'
START_TIMEOUT = 120
SERVICES = ('cinder-volume', 'cinder-backup', 'cinder-scheduler')


def _api_paste_ini():
    """Cinder's api-paste.ini, with the default-token filter before noauth.

    Read from the installed cinder (pip puts it under <venv>/etc/cinder).
    """
    src = os.path.join(os.path.dirname(VENV_BIN), 'etc', 'cinder',
                       'api-paste.ini')
    with open(src) as f:
        text = f.read()
    text = text.replace(' noauth apiv3', ' defaulttoken noauth apiv3')
    text += ('\n[filter:defaulttoken]\npaste.filter_factory = '
             'tests.functional.stack.paste_filters:DefaultToken.factory\n')
    return text


def _write_ini(path, sections):
    parser = configparser.RawConfigParser()
    for section, options in sections.items():
        if section != 'DEFAULT':
            parser.add_section(section)
        for key, value in options.items():
            parser.set(section, key, value)
    with open(path, 'w') as f:
        parser.write(f)


class CinderServices(fixtures.Fixture):
    """The cinder services on one machine, sharing one cinder.conf.

    backup_driver and backup_options (more [DEFAULT] options, e.g. a
    share for the NFS driver) say what cinder-backup runs; extra_config
    ({section: {option: value}}) adds anything else.  keystone, a
    keystone.Keystone fixture, switches the API from noauth to Keystone
    tokens.

    backup_hosts names several cinder-backup services, as on several
    backup hosts: each reads cinder.conf and then a file of its own
    (backup-HOST.conf) that gives it its host name and a state directory
    (locks, mount points) of its own.  backup_launcher(host, argv) may
    wrap their command line (in a private mount namespace, say).
    """

    def __init__(self, work_dir, log_dir, database_url, transport_url,
                 backup_driver, backup_options=None, extra_config=None,
                 keystone=None, backup_hosts=None, backup_launcher=None,
                 env=None, volume_backend=None, python_path=()):
        super().__init__()
        self.backup_hosts = list(backup_hosts or [])
        self.backup_launcher = backup_launcher
        self.extra_env = dict(env or {})
        # (name, {option: value}) of cinder-volume's one back end; the
        # sparse-file test driver by default.
        self.volume_backend = volume_backend
        self.python_path = list(python_path)
        self.work_dir = work_dir
        self.log_dir = log_dir
        self.database_url = database_url
        self.transport_url = transport_url
        self.backup_driver = backup_driver
        self.backup_options = dict(backup_options or {})
        self.extra_config = extra_config or {}
        self.keystone = keystone
        self.etc_dir = os.path.join(work_dir, 'etc')
        self.conf_file = os.path.join(self.etc_dir, 'cinder.conf')
        self.volume_dir = os.path.join(work_dir, 'volumes')
        self.backup_dir = os.path.join(work_dir, 'backups')
        self.api_port = None
        self.services = {}
        self.last_error = None

    @property
    def backup_service_names(self):
        """One cinder-backup service per backup host (log file names)."""
        if not self.backup_hosts:
            return ['cinder-backup']
        return ['cinder-backup-%s' % host for host in self.backup_hosts]

    def backup_host_dir(self, host):
        """The state directory of one backup host."""
        return os.path.join(self.work_dir, 'hosts', host)

    @property
    def endpoint(self):
        """The block-storage v3 endpoint.

        Without a project in the path: openstackclient's admin_token
        plugin cannot supply one, and Cinder serves both forms.
        """
        return 'http://127.0.0.1:%d/v3' % self.api_port

    @property
    def backend_name(self):
        return self.volume_backend[0] if self.volume_backend else BACKEND

    def _backend_options(self):
        if self.volume_backend:
            options = dict(self.volume_backend[1])
        else:
            options = {'volume_driver': VOLUME_DRIVER,
                       'file_volume_dir': self.volume_dir}
        options['volume_backend_name'] = self.backend_name
        return options

    def volume_path(self, volume_id):
        return os.path.join(self.volume_dir, 'volume-%s' % volume_id)

    def _config(self):
        state = os.path.join(self.work_dir, 'state')
        helper = '%s --config-file %s' % (
            os.path.join(VENV_BIN, 'privsep-helper'), self.conf_file)
        conf = {
            'DEFAULT': {
                'debug': 'true',
                'state_path': state,
                'my_ip': '127.0.0.1',
                'host': 'cbe-stack',
                'transport_url': self.transport_url,
                'auth_strategy': 'keystone' if self.keystone else 'noauth',
                'api_paste_config': os.path.join(self.etc_dir,
                                                 'api-paste.ini'),
                'osapi_volume_listen': '127.0.0.1',
                'osapi_volume_listen_port': str(self.api_port),
                'osapi_volume_workers': '1',
                'enabled_backends': self.backend_name,
                # Faster heartbeats: the stack is "up" once every service
                # has reported, and tests should not wait 10 s for that.
                'report_interval': '2',
                'periodic_interval': '5',
                'scheduler_driver_init_wait_time': '20',
                'backup_driver': self.backup_driver,
                'backup_posix_path': self.backup_dir,
            },
            'database': {'connection': self.database_url},
            'oslo_concurrency': {'lock_path': os.path.join(state, 'lock')},
            'os_brick': {'lock_path': os.path.join(state, 'lock')},
            'coordination': {
                'backend_url': 'file://' + os.path.join(state, 'coord')},
            'privsep_osbrick': {'helper_command': helper},
            'cinder_sys_admin': {'helper_command': helper},
        }
        conf[self.backend_name] = self._backend_options()
        conf['DEFAULT'].update(self.backup_options)
        if self.keystone:
            conf['keystone_authtoken'] = self.keystone.authtoken_options()
        for section, options in self.extra_config.items():
            conf.setdefault(section, {}).update(options)
        return conf

    def _write_config(self):
        os.makedirs(self.etc_dir)
        for path in (self.volume_dir, self.backup_dir,
                     os.path.join(self.work_dir, 'state', 'lock')):
            os.makedirs(path, exist_ok=True)
        _write_ini(self.conf_file, self._config())
        with open(os.path.join(self.etc_dir, 'api-paste.ini'), 'w') as f:
            f.write(_api_paste_ini())
        for host in self.backup_hosts:
            os.makedirs(os.path.join(self.backup_host_dir(host), 'lock'))
            self.set_backup_host_options(host, {})

    def set_backup_host_options(self, host, options):
        """Write backup host host's own file, with [DEFAULT] options
        over cinder.conf's; they apply when its service (re)starts."""
        lock_path = os.path.join(self.backup_host_dir(host), 'lock')
        default = {'host': host}
        default.update(options)
        _write_ini(self.backup_host_conf(host), {
            'DEFAULT': default,
            'oslo_concurrency': {'lock_path': lock_path},
            'os_brick': {'lock_path': lock_path},
        })

    def backup_host_conf(self, host):
        return os.path.join(self.etc_dir, 'backup-%s.conf' % host)

    def _env(self):
        env = dict(os.environ)
        # cinder-volume imports the test volume driver from this checkout.
        env['PYTHONPATH'] = os.pathsep.join(
            [REPO_ROOT] + self.python_path +
            [p for p in [env.get('PYTHONPATH')] if p])
        env['PATH'] = os.pathsep.join([VENV_BIN, env.get('PATH', '')])
        env.pop('OS_CINDER_DISABLE_EVENTLET_PATCHING', None)
        env.update(self.extra_env)
        return env

    def _start(self, name, host=None):
        argv = [os.path.join(VENV_BIN, name), '--config-file',
                self.conf_file]
        service_name = name
        if host is not None:
            argv += ['--config-file', self.backup_host_conf(host)]
            service_name = '%s-%s' % (name, host)
            if self.backup_launcher is not None:
                argv = self.backup_launcher(host, argv)
        service = self.useFixture(procs.Service(
            service_name, argv, self.log_dir, env=self._env(),
            cwd=self.work_dir))
        self.services[service_name] = service
        return service

    def backup_service(self, host):
        return self.services['cinder-backup-%s' % host]

    def stop_backup_host(self, host):
        """Stop one backup host's cinder-backup by PID."""
        self.backup_service(host).stop()

    def start_backup_host(self, host):
        """Start one backup host's cinder-backup again; wait until it has
        reported itself up."""
        self.backup_service(host).stop()
        started = self.get('/os-services')['services']
        before = {s['updated_at'] for s in started
                  if s['binary'] == 'cinder-backup' and s['host'] == host}
        service = self._start('cinder-backup', host)

        def reported():
            state, updated = self.service_states().get(
                ('cinder-backup', host), (None, None))
            return state == 'up' and updated not in before
        service.wait_until('cinder-backup on %s reporting' % host, reported,
                           START_TIMEOUT)

    def _start_backups(self):
        if not self.backup_hosts:
            self._start('cinder-backup')
        for host in self.backup_hosts:
            self._start('cinder-backup', host)

    def _setUp(self):
        self.api_port = procs.free_port()
        self._write_config()
        procs.run([os.path.join(VENV_BIN, 'cinder-manage'), '--config-file',
                   self.conf_file, 'db', 'sync'], 'cinder-manage db sync',
                  180, env=self._env())
        api = self._start('cinder-api')
        # The scheduler asks for capabilities when it starts: volume and
        # backup first, so that it has a pool at once.
        self._start('cinder-volume')
        self._start_backups()
        self._start('cinder-scheduler')
        api.wait_for_port(self.api_port, START_TIMEOUT)
        self._wait_until_ready()

    # --- readiness ---

    def auth_headers(self):
        if self.keystone:
            return {'X-Auth-Token': self.keystone.admin_token()}
        return {'X-Auth-Token': NOAUTH_TOKEN}

    def get(self, path, microversion='3.64'):
        """GET an API path (e.g. '/backups/ID') as admin; the JSON."""
        headers = self.auth_headers()
        headers['OpenStack-API-Version'] = 'volume ' + microversion
        resp = requests.get(self.endpoint + path, headers=headers,
                            timeout=10)
        resp.raise_for_status()
        return resp.json()

    def service_states(self):
        """{(binary, host): (state, updated_at)} from the API."""
        return {(s['binary'], s['host']): (s['state'], s['updated_at'])
                for s in self.get('/os-services')['services']}

    def _ready(self):
        try:
            states = self.service_states()
            pools = self.get('/scheduler-stats/get_pools')['pools']
        except (requests.RequestException, ValueError) as error:
            self.last_error = error
            return False
        up = [binary for (binary, host), (state, _updated) in states.items()
              if state == 'up']
        backups_up = {host for (binary, host), (state, _updated)
                      in states.items()
                      if binary == 'cinder-backup' and state == 'up'}
        return (set(up).issuperset(SERVICES) and bool(pools) and
                backups_up.issuperset(self.backup_hosts))

    def _wait_until_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        while not self._ready():
            for name, service in self.services.items():
                if service.process.poll() is not None:
                    raise procs.StackError('%s exited with status %s%s' % (
                        name, service.process.returncode,
                        procs.log_tail(service.log_file)))
            if time.monotonic() > deadline:
                raise procs.StackError(
                    'cinder services not all up with a pool after %d s '
                    '(last error: %s); logs in %s' % (
                        START_TIMEOUT, self.last_error, self.log_dir))
            time.sleep(0.5)
