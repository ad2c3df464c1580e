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

"""TEST-ONLY fixtures for functional tests against a real NFS server.

GaneshaServer runs nfs-ganesha (NFSv4.1, FSAL VFS) on one loopback
address, serving a directory of the test; several instances on one
directory are one export with several addresses.  BackupHosts runs
nfs_host.py, a cinder-backup host with the NFS driver, in a private mount
namespace, with the stand-in mount.nfs (nfs_standin/mount_nfs.py) when
the kernel has no NFS client.  Everything is stopped by PID and bounded in
time; servers listen on loopback only.
"""

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time

import fixtures

HERE = os.path.dirname(os.path.abspath(__file__))
NFS_PORT = 2049
GANESHA = shutil.which('ganesha.nfsd') or '/usr/bin/ganesha.nfsd'
START_TIMEOUT = 15
HOST_TIMEOUT = 180

GANESHA_CONF = """
NFS_CORE_PARAM {
    Protocols = 4;
    Bind_addr = %(address)s;
    NFS_Port = %(port)d;
    Enable_NLM = false;
    Enable_RQUOTA = false;
}
NFSV4 {
    Graceless = true;
    Lease_Lifetime = 10;
    RecoveryBackend = fs;
    RecoveryRoot = %(recovery)s;
}
NFS_KRB5 { Active_krb5 = false; }
EXPORT_DEFAULTS { Attr_Expiration_Time = 0; }
# Several servers over one directory, as the tests run them, share no
# cache.  With directory entries cached, a directory that a host removed
# and made again through one server lives on in the other server's cache:
# a lookup finds the removed one, and a mkdir below it fails with ENOENT.
# A real multi-address export has one coherent file system behind its
# addresses; without the dirent cache every lookup goes to the directory.
MDCACHE { Dir_Chunk = 0; }
EXPORT {
    Export_Id = 1;
    Path = %(directory)s;
    Pseudo = %(pseudo)s;
    Protocols = 4;
    Access_Type = RW;
    Squash = No_Root_Squash;
    SecType = sys;
    FSAL { Name = VFS; }
}
"""


def kernel_has_nfs_client():
    try:
        with open('/proc/filesystems') as f:
            return any(line.split()[-1] in ('nfs', 'nfs4') for line in f
                       if line.strip())
    except OSError:
        return False


def missing_prerequisites():
    """Why these tests cannot run here, or None."""
    if os.geteuid() != 0:
        return 'needs root (mounts, namespaces, an NFS server)'
    if not os.path.exists(GANESHA):
        return 'needs nfs-ganesha (tools/test-setup.d/nfs.sh installs it)'
    if not shutil.which('unshare'):
        return 'needs unshare (util-linux)'
    if not kernel_has_nfs_client():
        if not os.path.exists('/dev/fuse'):
            return 'no kernel NFS client and no /dev/fuse for the stand-in'
        if not os.path.exists('/sbin/mount.nfs'):
            return 'needs /sbin/mount.nfs to stand in for (nfs-common)'
        try:
            import mfusepy  # noqa: F401
            import nfs_rs  # noqa: F401
        except (ImportError, OSError) as error:
            return 'the stand-in NFS client needs %s' % error
    return None


def free_loopback_addresses(count):
    """count addresses 127.a.b.1..count with nothing on the NFS port.

    Tests run in parallel: each gets its own addresses (all of 127/8 is
    local on Linux), so servers of two tests never collide.
    """
    for _ in range(50):
        base = '127.%d.%d.' % (random.randint(1, 254),
                               random.randint(1, 254))
        addresses = [base + str(i + 1) for i in range(count)]
        if all(_port_free(a) for a in addresses):
            return addresses
    raise RuntimeError('no free loopback addresses for NFS servers')


def _port_free(address):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((address, NFS_PORT))
        except OSError:
            return False
    return True


def _listening(address):
    try:
        with socket.create_connection((address, NFS_PORT), timeout=0.5):
            return True
    except OSError:
        return False


class GaneshaServer(fixtures.Fixture):
    """nfs-ganesha serving directory as pseudo path on one address."""

    def __init__(self, workdir, address, directory, pseudo='/backups'):
        super().__init__()
        self.workdir = workdir
        self.address = address
        self.directory = directory
        self.pseudo = pseudo
        self.process = None

    def _setUp(self):
        name = 'ganesha-%s' % self.address
        recovery = os.path.join(self.workdir, name + '-recovery')
        os.makedirs(recovery, exist_ok=True)
        self.conf = os.path.join(self.workdir, name + '.conf')
        self.log = os.path.join(self.workdir, name + '.log')
        with open(self.conf, 'w') as f:
            f.write(GANESHA_CONF % {
                'address': self.address, 'port': NFS_PORT,
                'recovery': recovery, 'directory': self.directory,
                'pseudo': self.pseudo})
        self.addCleanup(self.stop)
        self.start()

    def start(self):
        # No rpcbind and no dbus here: ganesha logs CRIT lines about them
        # and serves NFSv4 regardless.
        self.process = subprocess.Popen(
            [GANESHA, '-F', '-f', self.conf, '-L', self.log,
             '-p', os.path.join(self.workdir, 'ganesha-%s.pid'
                                % self.address), '-N', 'NIV_EVENT'],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while not _listening(self.address):
            if self.process.poll() is not None or \
                    time.monotonic() > deadline:
                self.stop()
                raise RuntimeError('ganesha on %s did not start; see %s'
                                   % (self.address, self.log))
            time.sleep(0.05)

    @property
    def pid(self):
        return self.process.pid

    def pause(self):
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self):
        os.kill(self.pid, signal.SIGCONT)

    def stop(self):
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        try:
            os.kill(process.pid, signal.SIGCONT)
            process.terminate()
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        except ProcessLookupError:
            pass


class StandinClient(fixtures.Fixture):
    """The stand-in NFS client for programs in private mount namespaces.

    When the kernel has no NFS client, wrap(argv) runs argv in a mount
    namespace of its own in which the stand-in (nfs_standin/mount_nfs.py)
    is bind-mounted over /sbin/mount.nfs; with a kernel client it runs
    argv in a private mount namespace as it is.  Either way the program's
    mounts stay out of the machine's own.  env() is what the stand-in
    needs in the program's environment; its FUSE servers are stopped by
    PID at cleanup.
    """

    def __init__(self, workdir):
        super().__init__()
        self.workdir = workdir

    def _setUp(self):
        self.piddir = os.path.join(self.workdir, 'standin-pids')
        os.makedirs(self.piddir, exist_ok=True)
        self.shim = None
        if not kernel_has_nfs_client():
            self.shim = os.path.join(self.workdir, 'mount.nfs')
            with open(self.shim, 'w') as f:
                f.write('#!/bin/sh\nexec %s %s "$@"\n' % (
                    sys.executable,
                    os.path.join(HERE, 'nfs_standin', 'mount_nfs.py')))
            os.chmod(self.shim, 0o755)
        self.addCleanup(self._stop_leftovers)

    def env(self):
        return {'NFS_STANDIN_PIDDIR': self.piddir,
                'NFS_STANDIN_LOG': os.path.join(self.workdir,
                                                'standin.log')}

    def wrap(self, argv):
        """argv in a private mount namespace with the stand-in."""
        prefix = ['unshare', '-m', '--propagation', 'private']
        if self.shim is None:
            return prefix + list(argv)
        # sh replaces itself with argv: the PID stays the program's.
        return prefix + ['sh', '-c', 'mount --bind "$0" /sbin/mount.nfs '
                         '&& exec "$@"', self.shim] + list(argv)

    def _stop_leftovers(self):
        """FUSE servers of the stand-in that outlived their host."""
        for name in os.listdir(self.piddir):
            try:
                os.kill(int(name.split('.')[0]), signal.SIGKILL)
            except (ValueError, ProcessLookupError):
                pass


class BackupHosts(fixtures.Fixture):
    """Runs nfs_host.py children sharing one database and mount base."""

    # A soft 3 s timeout: a hung server gives EIO quickly; naming the
    # version spares os-brick's three mount types against a dead address.
    MOUNT_OPTIONS = 'vers=4.1,soft,timeo=30,retrans=0'

    def __init__(self, workdir, share, mount_options=MOUNT_OPTIONS,
                 attempts=1, object_size=256 * 1024):
        super().__init__()
        self.workdir = workdir
        self.share = share
        self.mount_options = mount_options
        self.attempts = attempts
        self.object_size = object_size
        self.runs = 0

    def _setUp(self):
        self.mount_base = os.path.join(self.workdir, 'mnt')
        self.client = self.useFixture(StandinClient(self.workdir))
        self.shim = self.client.shim

    def run(self, host, steps, log=None):
        """Run steps as cinder-backup host `host`; return the results."""
        self.runs += 1
        tag = '%s-%d' % (host, self.runs)
        spec = {
            'workdir': self.workdir,
            'log_file': os.path.join(self.workdir, tag + '.log'),
            'standin_shim': self.shim,
            'options': {
                'host': host,
                'backup_share': self.share,
                'backup_mount_point_base': self.mount_base,
                'backup_mount_options': self.mount_options,
                'backup_mount_attempts': self.attempts,
                'backup_object_size': self.object_size,
                'backup_file_size': self.object_size,
                'backup_sha_block_size_bytes': 32768,
                'backup_native_threads': 2,
                'backup_pipeline_depth': 4,
                'backup_enable_progress_timer': False,
            },
            'steps': steps,
        }
        spec_path = os.path.join(self.workdir, tag + '-spec.json')
        result_path = os.path.join(self.workdir, tag + '-result.json')
        with open(spec_path, 'w') as f:
            json.dump(spec, f)
        env = dict(os.environ)
        env.update(self.client.env())
        env['PYTHONPATH'] = os.pathsep.join(
            [os.path.dirname(os.path.dirname(HERE))] +
            [p for p in [env.get('PYTHONPATH')] if p])
        proc = subprocess.run(
            ['unshare', '-m', '--propagation', 'private', sys.executable,
             os.path.join(HERE, 'nfs_host.py'), spec_path, result_path],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, env=env, timeout=HOST_TIMEOUT)
        output = proc.stdout.decode(errors='replace')
        try:
            with open(spec['log_file']) as f:
                driver_log = f.read()
        except OSError:
            driver_log = ''
        if log is not None:
            log(tag, output, driver_log)
        if proc.returncode != 0:
            raise AssertionError('backup host %s failed (%d):\n%s'
                                 % (host, proc.returncode, output))
        with open(result_path) as f:
            return json.load(f)
