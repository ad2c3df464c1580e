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

"""Starting, waiting for and stopping the stack's processes.

Every process runs in its own session so that stopping it by PID takes its
children along; waits are bounded and say what they waited for.
"""

import os
import signal
import socket
import subprocess
import time

import fixtures


class StackError(Exception):
    """A service of the test stack did not come up or misbehaved."""


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def port_open(port, host='127.0.0.1'):
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def wait_for(what, predicate, timeout, interval=0.2, log_file=None,
             process=None):
    """Call predicate() until it is true; StackError after timeout seconds.

    If process is given and exits first, fail at once: waiting for a dead
    server only hides its error.  The last lines of log_file go into the
    message.
    """
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if process is not None and process.poll() is not None:
            raise StackError('%s: process exited with status %s%s' % (
                what, process.returncode, log_tail(log_file)))
        if time.monotonic() > deadline:
            raise StackError('%s: not ready after %d s%s' % (
                what, timeout, log_tail(log_file)))
        time.sleep(interval)


def log_tail(path, lines=30):
    if not path or not os.path.exists(path):
        return ''
    with open(path, errors='replace') as f:
        tail = f.readlines()[-lines:]
    return '\n--- last lines of %s ---\n%s' % (path, ''.join(tail))


def pids_listening_on(port):
    """PIDs of processes with a TCP socket listening on port (from /proc).

    epmd daemonizes out of the process group that started it, so it can
    only be found by what it does.
    """
    inodes = set()
    for table in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    local, state, inode = fields[1], fields[3], fields[9]
                    if state == '0A' and int(local.split(':')[1], 16) == port:
                        inodes.add(inode)
        except FileNotFoundError:
            continue
    pids = set()
    if not inodes:
        return pids
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            for fd in os.listdir('/proc/%s/fd' % pid):
                target = os.readlink('/proc/%s/fd/%s' % (pid, fd))
                if target.startswith('socket:[') and target[8:-1] in inodes:
                    pids.add(int(pid))
                    break
        except OSError:
            continue
    return pids


def kill_pid(pid, timeout=15, group=True):
    """SIGTERM pid's process group (or only pid), SIGKILL after timeout."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            if group:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _alive(pid):
                return
            time.sleep(0.1)


def _alive(pid):
    try:
        done, _status = os.waitpid(pid, os.WNOHANG)
        return not done
    except ChildProcessError:
        # Not our child (epmd): gone once kill(pid, 0) fails.
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        # A zombie of someone else's still answers; it does no harm.
        with open('/proc/%d/stat' % pid) as f:
            return f.read().split(')')[-1].split()[0] != 'Z'


class Service(fixtures.Fixture):
    """One long-running process with its output in a log file.

    Stopped by PID (its whole session) at cleanup, also when the test
    failed half-way through setting up the stack.
    """

    def __init__(self, name, argv, log_dir, env=None, cwd=None,
                 preexec_fn=None):
        super().__init__()
        self.name = name
        self.argv = argv
        self.log_file = os.path.join(log_dir, name + '.log')
        self.env = env
        self.cwd = cwd
        self.preexec_fn = preexec_fn
        self.process = None

    def _setUp(self):
        with open(self.log_file, 'ab') as log:
            self.process = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, env=self.env, cwd=self.cwd,
                start_new_session=True, preexec_fn=self.preexec_fn)
        self.addCleanup(self.stop)

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            kill_pid(self.process.pid)
        if self.process is not None:
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    def wait_until(self, what, predicate, timeout):
        wait_for('%s: %s' % (self.name, what), predicate, timeout,
                 log_file=self.log_file, process=self.process)

    def wait_for_port(self, port, timeout):
        self.wait_until('listening on 127.0.0.1:%d' % port,
                        lambda: port_open(port), timeout)


class RestartableServer(fixtures.Fixture):
    """A server a test can stop and start again, by PID, on the same port
    and data (to take a service away from the stack for a while).

    A subclass prepares its directory, ports and configuration in
    prepare(), builds its Service in service() and says in ready()
    whether it answers; it is ready within start_timeout seconds.
    """

    start_timeout = 120

    def _setUp(self):
        self._server = None
        self.prepare()
        self.addCleanup(self.stop)
        self.start()

    def prepare(self):
        """Before the first start."""

    def service(self):
        """The Service that runs the server."""
        raise NotImplementedError

    def ready(self):
        raise NotImplementedError

    def start(self):
        """Start the server (again) and wait until it answers."""
        if self._server is not None:
            return
        server = self.service()
        server.setUp()
        self._server = server
        try:
            server.wait_until('answering', self.ready, self.start_timeout)
        except Exception:
            self.stop()
            raise

    def stop(self):
        """Stop the server by PID; its data stays for the next start."""
        server, self._server = self._server, None
        if server is not None:
            server.cleanUp()


def run(argv, what, timeout, **kwargs):
    """Run a short command; StackError with its output if it fails."""
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=timeout,
                              **kwargs)
    except subprocess.TimeoutExpired as error:
        raise StackError('%s: no result after %d s: %s' % (
            what, timeout, error.output))
    if proc.returncode:
        raise StackError('%s failed (%d): %s' % (
            what, proc.returncode, proc.stdout.decode(errors='replace')))
    return proc.stdout.decode(errors='replace')
