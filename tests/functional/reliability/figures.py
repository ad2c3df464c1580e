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

"""The figures a reliability test reports: crash points, fuzz cases,
concurrent operations.

Each test attaches its figures to its result (a testtools detail) and
prints them as one line on stdout, so a CI log shows them whether the test
passed or not.
"""

import sys

import testtools


def report(test, title, **figures):
    line = '%s: %s' % (title, ', '.join(
        '%s=%s' % item for item in sorted(figures.items())))
    test.addDetail('figures', testtools.content.text_content(line))
    # The process's own stdout: with OS_STDOUT_CAPTURE the test base class
    # puts a capture in sys.stdout, shown only if the test fails.
    sys.__stdout__.write('\nRELIABILITY %s\n' % line)
    sys.__stdout__.flush()
    return line
