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

"""Starting and talking to posix_host child processes from a test.

A HostProcess is one cinder-backup host: ``run(steps)`` sends one line of
steps to a ``posix_host --serve`` process, which forks a child for them,
and returns the events the child printed plus the ``run-end`` record with
its exit status.  Reads wait with select() and a deadline, so a host that
hangs fails the test instead of stalling CI, whether or not the test
process is eventlet monkey patched.
"""

import json
import os
import select
import subprocess
import sys
import time

import testtools

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
MODULE = 'tests.functional.reliability.posix_host'

# Small objects spread a small volume over many files, so a crash can
# land between any two kinds of write.
OPTIONS = {
    'backup_object_size': 65536,
    'backup_file_size': 65536,
    'backup_sha_block_size_bytes': 4096,
    'backup_enable_progress_timer': 'false',
    'backup_native_threads': 2,
    'backup_pipeline_depth': 4,
}


class HostError(AssertionError):
    pass


def host_environment():
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [TOP] + [p for p in [env.get('PYTHONPATH')] if p])
    env.pop('OS_CINDER_DISABLE_EVENTLET_PATCHING', None)
    return env


def write_spec(workdir, repository, steps=(), options=None):
    os.makedirs(workdir, exist_ok=True)
    merged = dict(OPTIONS)
    merged['backup_posix_path'] = repository
    merged.update(options or {})
    path = os.path.join(workdir, 'spec.json')
    with open(path, 'w') as f:
        json.dump({'workdir': workdir, 'options': merged,
                   'steps': list(steps)}, f)
    return path


class HostProcess(object):
    """A posix_host --serve process; stop() when done."""

    def __init__(self, test, workdir, repository, options=None,
                 timeout=120):
        self.test = test
        self.timeout = timeout
        spec = write_spec(workdir, repository, options=options)
        self.log_path = os.path.join(workdir, 'host.log')
        self._log = open(self.log_path, 'wb')
        self._buffer = b''
        self.proc = subprocess.Popen(
            [sys.executable, '-m', MODULE, '--serve', spec], cwd=TOP,
            env=host_environment(), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self._log)
        test.addCleanup(self.stop)
        ready = self._next_event(deadline=time.monotonic() + 300)
        if ready.get('event') != 'ready':
            raise HostError('host did not start: %r' % ready)

    def _next_event(self, deadline):
        fd = self.proc.stdout.fileno()
        while b'\n' not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise HostError('host sent nothing for %d s; see %s'
                                % (self.timeout, self.log_path))
            readable, _w, _x = select.select([fd], [], [], left)
            if not readable:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                raise HostError('host exited (%s); see %s'
                                % (self.proc.poll(), self.log_path))
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b'\n', 1)
        return json.loads(line.decode('utf-8'))

    def run(self, steps):
        """Run steps in a fresh child; return (events, run-end record)."""
        self.send(steps)
        return self.collect()

    def send(self, steps):
        """Start steps; collect() their results.  Hosts given their steps
        one after the other run them at the same time."""
        self.proc.stdin.write((json.dumps({'steps': steps}) + '\n')
                              .encode('utf-8'))
        self.proc.stdin.flush()

    def collect(self):
        events = []
        deadline = time.monotonic() + self.timeout
        while True:
            event = self._next_event(deadline)
            if event.get('event') == 'run-end':
                return events, event
            events.append(event)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self._log.closed:
            self._log.close()
            with open(self.log_path, 'rb') as f:
                self.test.addDetail(
                    'host-log-%s' % os.path.basename(
                        os.path.dirname(self.log_path)),
                    testtools.content.text_content(
                        f.read()[-20000:].decode('utf-8', 'replace')))


def steps_by_name(events):
    return {e['name']: e for e in events
            if e.get('event') == 'step' and e.get('name')}
