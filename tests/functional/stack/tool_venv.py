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

"""Cached virtualenvs for the services and tools the tests run.

Keystone, Barbican and tempest have requirements that clash with the ones
this library is tested with, so each set lives in a virtualenv of its own
under the user's cache directory, built on first use (about a minute, from
PyPI) and reused while its requirement file is unchanged.  The cache is
found through the password database rather than $HOME: Cinder's TestCase
points $HOME at a fresh temporary directory for every test, and the point
of the cache is to outlive the test run.
"""

import hashlib
import os
import pwd
import sys

import fcntl

from tests.functional.stack import procs

TEMPEST_REQUIREMENTS = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), 'tempest-requirements.txt')
INSTALL_TIMEOUT = 900


def cache_dir():
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(
        pwd.getpwuid(os.getuid()).pw_dir, '.cache')
    return os.path.join(base, 'cinder-backup-ext')


def ensure_venv(requirements, name, override_variable, path=None):
    """The bin directory of a virtualenv with requirements installed.

    It is cache_dir()/name unless path or the environment variable
    override_variable names another place.
    """
    path = path or os.environ.get(override_variable) or os.path.join(
        cache_dir(), name)
    with open(requirements, 'rb') as f:
        want = hashlib.sha256(f.read()).hexdigest()
    stamp = os.path.join(path, '.cbe-installed')
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # Test workers of one run may ask at the same time: one builds, the
    # others wait for it and then find the stamp.
    with open(path + '.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with open(stamp) as f:
                if f.read() == want:
                    return os.path.join(path, 'bin')
        except FileNotFoundError:
            pass
        python = os.path.join(path, 'bin', 'python')
        if not os.path.exists(python):
            procs.run([_base_python(), '-m', 'venv', '--clear', path],
                      'creating %s' % path, 120)
        procs.run([python, '-m', 'pip', 'install', '-q',
                   '--disable-pip-version-check', '-r', requirements],
                  'installing %s into %s' % (requirements, path),
                  INSTALL_TIMEOUT)
        with open(stamp, 'w') as f:
            f.write(want)
    return os.path.join(path, 'bin')


def ensure(path=None):
    """The bin directory of the Keystone and tempest virtualenv."""
    return ensure_venv(TEMPEST_REQUIREMENTS, 'tempest-venv', 'CBE_TOOL_VENV',
                       path)


def _base_python():
    # A virtualenv made from the test virtualenv's python would chain the
    # two, and the services would see this library's pins.
    return getattr(sys, '_base_executable', sys.executable)
