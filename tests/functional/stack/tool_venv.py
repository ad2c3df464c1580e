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

"""A cached virtualenv for Keystone and tempest.

Their requirements clash with the ones this library is tested with, so
they live in a virtualenv of their own under a cache directory, built on
first use (about a minute) and reused while its requirement list is
unchanged.  The list is tests/functional/tempest-requirements.txt.
"""

import hashlib
import os
import sys

import fcntl

from tests.functional.stack import procs

REQUIREMENTS = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), 'tempest-requirements.txt')
INSTALL_TIMEOUT = 900


def cache_dir():
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(
        os.path.expanduser('~'), '.cache')
    return os.path.join(base, 'cinder-backup-ext')


def ensure(path=None):
    """The bin directory of the tool virtualenv, created if needed."""
    path = path or os.environ.get('CBE_TOOL_VENV') or os.path.join(
        cache_dir(), 'tempest-venv')
    with open(REQUIREMENTS, 'rb') as f:
        want = hashlib.sha256(f.read()).hexdigest()
    stamp = os.path.join(path, '.cbe-installed')
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # Two test workers may ask at once: one builds, the other waits.
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
                   '--disable-pip-version-check', '-r', REQUIREMENTS],
                  'installing %s into %s' % (REQUIREMENTS, path),
                  INSTALL_TIMEOUT)
        with open(stamp, 'w') as f:
            f.write(want)
    return os.path.join(path, 'bin')


def _base_python():
    # A venv made from the test venv's python would chain the two.
    return getattr(sys, '_base_executable', sys.executable)
