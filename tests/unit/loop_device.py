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

"""A loop device over a file, for tests of what block devices do."""

import os
import shutil
import subprocess


def attach(test, path):
    """The loop device of path, detached when the test ends; the test is
    skipped (which fails CI) where there can be none."""
    if os.geteuid() != 0 or shutil.which('losetup') is None:
        test.skipTest('needs root and losetup for a loop device')
    try:
        device = subprocess.run(
            ['losetup', '-f', '--show', path], check=True,
            capture_output=True, text=True).stdout.strip()
    except subprocess.CalledProcessError as error:
        test.skipTest('no loop device: %s' % error.stderr)
    # Detached by the name this test was given, nothing else.
    test.addCleanup(subprocess.run, ['losetup', '-d', device], check=False)
    return device
