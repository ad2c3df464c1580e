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

"""Configure and run tempest against a CinderStack with Keystone.

Tempest runs from the tool virtualenv with pre-provisioned accounts (no
dynamic credentials: there is no network service to make them networks
for); the result is read from its subunit stream.
"""

import collections
import io
import os
import subprocess

import subunit
import testtools

from tests.functional.stack import procs

PASSWORD = 'cbe-tempest-secret'
CONCURRENCY = 2
# (user, project, roles).  Pre-provisioned accounts are locked by the test
# class that holds them: every worker needs its own member and, in the
# same project, its own project reader (VolumesBackupsTest asks for both);
# the admin tests need an admin.
ACCOUNTS = []
for _n in range(1, CONCURRENCY + 2):
    ACCOUNTS += [
        ('tempest-member-%d' % _n, 'tempest-%d' % _n, ['member']),
        ('tempest-reader-%d' % _n, 'tempest-%d' % _n, ['reader']),
        ('tempest-admin-%d' % _n, 'tempest-admin-%d' % _n, ['admin']),
    ]
RUN_TIMEOUT = 900


def _tempest_conf(keystone, work_dir, backend):
    return '''\
[DEFAULT]
log_dir = {work}
log_file = tempest.log

[oslo_concurrency]
lock_path = {work}/locks

[auth]
use_dynamic_credentials = false
test_accounts_file = {work}/accounts.yaml
default_credentials_domain_name = Default
create_isolated_networks = false

[identity]
uri_v3 = {identity}
auth_version = v3
region = RegionOne

[service_available]
cinder = true
# VolumesBackupsTest asks for a default network and skips without neutron;
# with pre-provisioned accounts none is ever created.
neutron = true
nova = false
glance = false
swift = false

[volume]
catalog_type = block-storage
max_microversion = latest
build_timeout = 180
backend_names = {backend}

[volume-feature-enabled]
backup = true

[validation]
run_validation = false
'''.format(work=work_dir, identity=keystone.url, backend=backend)


def _accounts_yaml():
    lines = []
    for user, project, roles in ACCOUNTS:
        lines += ['- username: %s' % user,
                  '  project_name: %s' % project,
                  '  password: %s' % PASSWORD,
                  '  roles: [%s]' % ', '.join(roles)]
        if 'admin' in roles:
            lines.append('  types: [admin]')
    return '\n'.join(lines) + '\n'


def prepare(stack, bin_dir):
    """Catalog entry, users and a tempest workspace; its directory."""
    keystone = stack.keystone
    keystone.add_service('block-storage',
                         stack.cinder.endpoint + '/%(project_id)s')
    for user, project, roles in ACCOUNTS:
        keystone.add_user(user, PASSWORD, project, roles)
    work_dir = os.path.join(stack.work_dir, 'tempest')
    os.makedirs(os.path.join(work_dir, 'locks'))
    env = dict(os.environ, HOME=work_dir)
    workspace = os.path.join(work_dir, 'workspace')
    procs.run([os.path.join(bin_dir, 'tempest'), 'init', workspace],
              'tempest init', 120, env=env)
    with open(os.path.join(workspace, 'etc', 'tempest.conf'), 'w') as f:
        f.write(_tempest_conf(keystone, work_dir, stack.cinder.backend_name))
    with open(os.path.join(work_dir, 'accounts.yaml'), 'w') as f:
        f.write(_accounts_yaml())
    return workspace


Result = collections.namedtuple('Result', 'passed failed skipped output')


def run(bin_dir, workspace, regex, exclude_regex):
    """Run tempest; a Result with test-ID lists (skips with reasons)."""
    env = dict(os.environ, HOME=os.path.dirname(workspace))
    for key in list(env):
        if key.startswith('OS_'):
            del env[key]
    proc = subprocess.run(
        [os.path.join(bin_dir, 'tempest'), 'run', '--subunit',
         '--concurrency', str(CONCURRENCY), '--regex', regex,
         '--exclude-regex', exclude_regex],
        cwd=workspace, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        timeout=RUN_TIMEOUT)
    return _parse(proc.stdout, proc.stderr.decode(errors='replace'))


def _parse(stream, output):
    tests = []
    result = testtools.StreamToDict(tests.append)
    result.startTestRun()
    subunit.ByteStreamToStreamResult(
        io.BytesIO(stream), non_subunit_name='stdout').run(result)
    result.stopTestRun()
    passed, failed, skipped = [], [], []
    for test in tests:
        test_id, status = test['id'], test['status']
        if status in ('success', 'xfail'):
            passed.append(test_id)
        elif status == 'skip':
            skipped.append('%s (%s)' % (test_id, _detail(test, 'reason')))
        elif status in ('fail', 'uxsuccess'):
            # Also a class fixture's error, reported under an ID of its
            # own: "setUpClass (tempest...Class)".
            failed.append('%s\n%s' % (test_id, _detail(test, 'traceback')))
        # 'exists' and 'inprogress' are listings and starts, not results.
    return Result(passed, failed, skipped, output)


def _detail(test, name):
    detail = test['details'].get(name)
    return detail.as_text().strip() if detail else 'no %s' % name
