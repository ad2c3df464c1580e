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

"""A throwaway single-node Ceph cluster on 127.0.0.1, for RBD volumes.

Debian's Ceph (16.2, tools/test-setup.d/ceph.sh installs it): one
monitor, one OSD on the memstore object store (it keeps data in memory,
about twice its size, and needs no disk; bluestore on a sparse file for
more data than memory holds), one manager (Cinder's RBD driver reads pool
statistics that only a manager reports), pool size 1,
cephx off, and a ``volumes`` pool initialised for RBD.  Everything lives
under the fixture's directory and is stopped by PID: manager and OSD
before the monitor.

``python3-rados`` and ``python3-rbd`` are built for Debian's Python; the
cinder services and the tests import them from a directory holding only
their two extension modules (``python_path``), not from all of Debian's
dist-packages.
"""

import glob
import hashlib
import json
import os
import shutil
import subprocess
import time
import uuid

import fixtures

from tests.functional.stack import procs

POOL = 'volumes'
START_TIMEOUT = 120
DIST_PACKAGES = '/usr/lib/python3/dist-packages'
MODULES = ('rados', 'rbd')
BINARIES = ('ceph-mon', 'ceph-osd', 'ceph-mgr', 'ceph', 'rbd', 'monmaptool')

# The OSD's object store: memstore keeps data in memory (about twice its
# size) and starts fastest; bluestore on a sparse file holds what memory
# cannot (a restore that writes a large image's zeros, say).
MEMSTORE = """\
osd objectstore = memstore
memstore device bytes = %(bytes)d"""
BLUESTORE = """\
osd objectstore = bluestore
bluestore block create = true
bluestore block size = %(bytes)d
bluestore fsck on mount = false
osd memory target = 1073741824"""

CEPH_CONF = """\
[global]
fsid = %(fsid)s
mon host = 127.0.0.1:%(mon_port)d
mon initial members = a
public addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
%(objectstore)s
run dir = %(dir)s/run
log file = %(dir)s/log/$name.log
admin socket = %(dir)s/run/$name.$pid.asok
mon data = %(dir)s/mon.$id
osd data = %(dir)s/osd.$id
mgr data = %(dir)s/mgr.$id
"""


def missing():
    """Why a cluster cannot run here, or None."""
    for name in BINARIES:
        if not shutil.which(name):
            return ('needs %s (tools/test-setup.d/ceph.sh installs Debian\'s '
                    'ceph-mon, ceph-osd, ceph-mgr and ceph-common)' % name)
    for module in MODULES:
        if not _extension(module):
            return ('needs python3-%s (tools/test-setup.d/ceph.sh installs '
                    'it)' % module)
    return None


def _extension(module):
    found = glob.glob(os.path.join(DIST_PACKAGES, module + '.cpython-*.so'))
    return found[0] if found else None


class CephCluster(fixtures.Fixture):

    def __init__(self, work_dir, log_dir, capacity=8 << 30,
                 objectstore='memstore'):
        super().__init__()
        self.dir = os.path.join(work_dir, 'ceph')
        self.log_dir = log_dir
        self.objectstore = {'memstore': MEMSTORE,
                            'bluestore': BLUESTORE}[objectstore] % {
                                'bytes': capacity}
        self.started_in = None

    @property
    def conf(self):
        return os.path.join(self.dir, 'ceph.conf')

    @property
    def python_path(self):
        """A directory from which rados and rbd import."""
        return os.path.join(self.dir, 'python')

    def _setUp(self):
        reason = missing()
        if reason:
            raise procs.StackError(reason)
        started = time.monotonic()
        for sub in ('run', 'log', 'python'):
            os.makedirs(os.path.join(self.dir, sub))
        for module in MODULES:
            source = _extension(module)
            os.symlink(source, os.path.join(self.python_path,
                                            os.path.basename(source)))
        self.mon_port = procs.free_port()
        with open(self.conf, 'w') as f:
            f.write(CEPH_CONF % {'fsid': uuid.uuid4(),
                                 'mon_port': self.mon_port, 'dir': self.dir,
                                 'objectstore': self.objectstore})
        self._start_monitor()
        self._start_osd()
        self._start_manager()
        self.ceph('osd', 'pool', 'create', POOL, '32')
        self.wait_until_active()
        procs.run(['rbd', '-c', self.conf, 'pool', 'init', POOL],
                  'rbd pool init', 60)
        self.started_in = time.monotonic() - started

    def _service(self, name, argv):
        service = procs.Service(name, argv + ['-f', '-c', self.conf],
                                self.log_dir, cwd=self.dir)
        # Registered before it starts: cleanups run in reverse, so the
        # monitor, started first, stops last.
        self.useFixture(service)
        return service

    def _start_monitor(self):
        monmap = os.path.join(self.dir, 'monmap')
        procs.run(['monmaptool', '--create', '--clobber', '--fsid',
                   self._fsid(), '--add', 'a',
                   '127.0.0.1:%d' % self.mon_port, monmap],
                  'monmaptool', 30)
        procs.run(['ceph-mon', '-c', self.conf, '--mkfs', '-i', 'a',
                   '--monmap', monmap], 'ceph-mon --mkfs', 60)
        self.monitor = self._service('ceph-mon', ['ceph-mon', '-i', 'a'])
        self.monitor.wait_until('answering', self._answers, START_TIMEOUT)

    def _start_osd(self):
        osd_uuid = str(uuid.uuid4())
        number = self.ceph('osd', 'new', osd_uuid).strip()
        os.makedirs(os.path.join(self.dir, 'osd.' + number))
        procs.run(['ceph-osd', '-c', self.conf, '-i', number, '--mkfs',
                   '--osd-uuid', osd_uuid], 'ceph-osd --mkfs', 60)
        self.osd = self._service('ceph-osd', ['ceph-osd', '-i', number])

    def _start_manager(self):
        os.makedirs(os.path.join(self.dir, 'mgr.x'))
        self.manager = self._service('ceph-mgr', ['ceph-mgr', '-i', 'x'])

    def _fsid(self):
        with open(self.conf) as f:
            for line in f:
                if line.startswith('fsid = '):
                    return line.split(' = ')[1].strip()

    def _answers(self):
        try:
            self.ceph('mon', 'stat', timeout=5)
            return True
        except procs.StackError:
            return False

    def ceph(self, *args, timeout=60):
        """Run the ceph command against the cluster; its output."""
        return procs.run(['ceph', '-c', self.conf] + list(args),
                         'ceph ' + ' '.join(args), timeout)

    def wait_until_active(self):
        """Until every placement group is active and the manager reports
        the pools (``ceph df``)."""

        def active():
            status = json.loads(self.ceph('status', '--format', 'json'))
            pgs = status['pgmap']
            states = {s['state_name']: s['count']
                      for s in pgs.get('pgs_by_state', [])}
            return (pgs.get('num_pgs') and
                    states.get('active+clean') == pgs['num_pgs'] and
                    status.get('mgrmap', {}).get('available'))
        self.osd.wait_until('placement groups active', active,
                            START_TIMEOUT)

    # --- RBD images behind the driver's back ------------------------------

    def rbd(self, *args, timeout=120):
        return procs.run(['rbd', '-c', self.conf, '-p', POOL] + list(args),
                         'rbd ' + ' '.join(args), timeout)

    def image_sha256(self, name):
        """sha256 of an image's bytes, read by rbd export."""
        proc = subprocess.Popen(
            ['rbd', '-c', self.conf, '-p', POOL, 'export', name, '-'],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE)
        digest = hashlib.sha256()
        for piece in iter(lambda: proc.stdout.read(1 << 20), b''):
            digest.update(piece)
        errors = proc.stderr.read().decode(errors='replace')
        if proc.wait(600):
            raise procs.StackError('rbd export %s: %s' % (name, errors))
        return digest.hexdigest()
