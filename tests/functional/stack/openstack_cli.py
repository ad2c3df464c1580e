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

"""The ``openstack`` and ``cinder`` commands against a CinderStack.

Tests use the CLI a user types, in a child process, and read its JSON
output; a command that fails raises CommandFailed with what it printed.
"""

import json
import os
import subprocess
import sys
import time

import requests

VENV_BIN = os.path.dirname(sys.executable)
COMMAND_TIMEOUT = 120


class CommandFailed(Exception):

    def __init__(self, argv, returncode, output):
        super().__init__('%s exited with %d:\n%s' % (
            ' '.join(argv), returncode, output))
        self.output = output


class OpenStackCLI(object):

    def __init__(self, stack):
        self.stack = stack

    def _run(self, argv, env):
        proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE,
                              timeout=COMMAND_TIMEOUT)
        out = proc.stdout.decode(errors='replace')
        if proc.returncode:
            raise CommandFailed(argv, proc.returncode,
                                out + proc.stderr.decode(errors='replace'))
        return out

    def openstack(self, *args):
        """Run ``openstack ARGS -f json``; the parsed output."""
        out = self._run([os.path.join(VENV_BIN, 'openstack')] +
                        list(args) + ['-f', 'json'], self.stack.cli_env())
        return json.loads(out) if out.strip() else None

    def openstack_no_output(self, *args):
        """Run ``openstack ARGS`` for a command that prints nothing."""
        return self._run([os.path.join(VENV_BIN, 'openstack')] + list(args),
                         self.stack.cli_env())

    def cinder(self, *args):
        return self._run([os.path.join(VENV_BIN, 'cinder')] + list(args),
                         self.stack.cinder_cli_env())

    # --- waiting ---

    def show(self, kind, resource_id):
        """The resource as the API shows it, or None if there is none.

        Polling goes to the API directly: a CLI call costs over a second
        of start-up, and waiting is not what the tests are about.
        """
        path = {'volume': '/volumes/', 'volume backup': '/backups/'}[kind]
        try:
            body = self.stack.cinder.get(path + resource_id)
        except requests.HTTPError as error:
            if error.response.status_code == 404:
                return None
            raise
        return body[kind.split()[-1]]

    def wait_for_status(self, kind, resource_id, wanted, timeout=180,
                        failed=('error', 'error_restoring', 'error_deleting',
                                'error_backing-up')):
        """Poll until the volume or backup has status wanted; fail at once
        on an error status, with the tail of the services' logs.

        kind is 'volume' or 'volume backup'.
        """
        deadline = time.monotonic() + timeout
        status = None
        while time.monotonic() < deadline:
            shown = self.show(kind, resource_id)
            status = shown and shown['status']
            if status == wanted:
                return shown
            if status in failed or shown is None:
                break
            time.sleep(0.3)
        raise AssertionError('%s %s is %s, not %s, after waiting up to %d '
                             's%s' % (kind, resource_id, status, wanted,
                                      timeout, self.stack.log_tails()))

    def wait_until_gone(self, kind, resource_id, timeout=180):
        deadline = time.monotonic() + timeout
        status = None
        while time.monotonic() < deadline:
            shown = self.show(kind, resource_id)
            if shown is None:
                return
            status = shown['status']
            if status.startswith('error'):
                break
            time.sleep(0.3)
        raise AssertionError('%s %s still exists (%s) after %d s%s' % (
            kind, resource_id, status, timeout, self.stack.log_tails()))

    # --- resources ---

    def create_volume(self, name, size_gb=1):
        volume = self.openstack('volume', 'create', '--size', str(size_gb),
                                name)
        return self.wait_for_status('volume', volume['id'], 'available')

    def create_backup(self, volume_id, name, *options):
        backup = self.openstack('volume', 'backup', 'create', '--name',
                                name, *(list(options) + [volume_id]))
        return backup['id']

    def backup_volume(self, volume_id, name, *options):
        """Create a backup and wait until it is available."""
        backup_id = self.create_backup(volume_id, name, *options)
        return self.wait_for_status('volume backup', backup_id, 'available')
