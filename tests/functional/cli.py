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

"""Running the ``cinder-backup-ext`` command in a child process.

A child process, as a user runs it: the command monkey patches eventlet and
sets up Cinder's global configuration and database, which must not leak
into the test process.
"""

import os
import subprocess
import sys

import testtools

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def run_command(test, *args, timeout=900):
    """Run cinder-backup-ext with args; attach its output to the test."""
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [REPO_ROOT] + [p for p in [env.get('PYTHONPATH')] if p])
    proc = subprocess.run(
        [sys.executable, '-m', 'cinder_backup_ext.cmd.main'] + list(args),
        cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        universal_newlines=True, timeout=timeout)
    # Not named stdout and stderr: stestr prints those of a test that
    # passed too, and a test of an error would put the error it expects
    # on the console as if something had failed.
    test.addDetail('command stdout',
                   testtools.content.text_content(proc.stdout))
    test.addDetail('command stderr',
                   testtools.content.text_content(proc.stderr))
    return proc
