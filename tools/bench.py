#!/usr/bin/env python3
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

"""Benchmark this library's POSIX driver against Cinder's, side by side.

The same as ``cinder-backup-ext bench``; see ``--help``.  For example::

    tools/bench.py --size 1024
    tools/bench.py --size 4096 --only ours       # memory of a large volume
    tools/bench.py --no-eventlet                 # without monkey patching
"""

import sys

from cinder_backup_ext.cmd import main

if __name__ == '__main__':
    sys.exit(main.main(['bench'] + sys.argv[1:]))
