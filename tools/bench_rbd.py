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

"""The benchmark's Ceph RBD scenario on a throwaway single-node cluster.

Starts Debian's Ceph on 127.0.0.1 as the functional tests do (with
bluestore on a sparse file: Cinder's driver writes every byte of the
image it restores, zeros included, more than memory would hold), runs
``cinder-backup-ext bench --rbd-conf ...`` against it with the options
given, and stops the cluster.  Needs tools/test-setup.d/ceph.sh's
packages.  For example::

    tools/bench_rbd.py --size 1024 --rbd-size 16 --repeat 1
"""

import os
import shutil
import sys
import tempfile

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv):
    sys.path.insert(0, TOP)
    from tests.functional.stack import ceph
    from cinder_backup_ext.cmd import main as cmd_main

    work = tempfile.mkdtemp(prefix='cinder-backup-ext-bench-ceph-')
    logs = os.path.join(work, 'logs')
    os.makedirs(logs)
    cluster = ceph.CephCluster(work, logs, capacity=64 << 30,
                               objectstore='bluestore')
    try:
        cluster.setUp()
        print('ceph: single-node cluster (bluestore) started in %.1f s'
              % cluster.started_in, flush=True)
        return cmd_main.main(['bench', '--rbd-conf', cluster.conf] + argv)
    finally:
        cluster.cleanUp()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
