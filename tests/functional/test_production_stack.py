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

"""The shape operators run, through the openstack CLI.

NFSBackupDriver with Barbican encryption in two real cinder-backup
services that share an etcd coordination back end, under eventlet, with
privsep as a daemon (stack.production.ProductionStack).  Two classes,
one stack each:

- ProductionStackTest: every CLI test of test_backup_cli, tempest's two
  backup modules, and what only this shape has (two hosts, keys in
  Barbican, nothing readable on the export, the operator tools and their
  etcd lock);
- ProductionFaultTest: hung servers during a backup and a delete, every
  address hung, an address of another export, Barbican down, etcd down;
  and 8 backups with 4 restores at once.

What is checked comes from outside the library: the API, the export
directory as the NFS servers serve it, Barbican's REST API, the database.
"""

import contextlib
import json
import os
import random
import subprocess
import threading
import time

import testtools
from testtools import content

from tests.functional import stack_case
from tests.functional.stack import production
from tests.functional import tempest_tests
from tests.functional import test_backup_cli

MiB = stack_case.MiB
GiB = stack_case.GiB
# What an attacker would look for on the export.
MARKER = b'CBE-PRODUCTION-PLAINTEXT-MARKER'
TOOL_TIMEOUT = 300
# Long enough for a backup host to fail over (a few 3 s timeouts) or to
# give up on every address (3 attempts on each), with the CPU shared.
FAULT_TIMEOUT = 600
# Random data in the volumes of the fault tests: enough objects to catch
# a backup in the middle, few enough to keep the tests short.
FAULT_DATA = 384 * MiB


def random_bytes(seed, size):
    return random.Random(seed).randbytes(size)


class ProductionCase(stack_case.StackCase):
    """Helpers of tests on the production-shaped stack."""

    @classmethod
    def make_stack(cls):
        return production.ProductionStack()

    def setUp(self):
        super().setUp()
        self.addOnException(self._attach_logs)

    def _attach_logs(self, _exc_info):
        self.addDetail('service logs',
                       content.text_content(self.stack.log_tails(
                           names=list(self.stack.cinder.backup_service_names)
                           + ['cinder-volume', 'cinder-api'], lines=60)))

    # --- the two backup hosts ---

    @property
    def hosts(self):
        return self.stack.backup_hosts

    def set_enabled(self, host, enabled):
        self.stack.set_backup_service_disabled(host, not enabled)

    @contextlib.contextmanager
    def only_host(self, host):
        """Restores and deletes go to host: Cinder's API sends them to
        an enabled backup service that is up."""
        others = [h for h in self.hosts if h != host]
        for other in others:
            self.set_enabled(other, False)
        try:
            yield
        finally:
            for other in others:
                self.set_enabled(other, True)

    def record(self, backup_id):
        return self.stack.backup_record(backup_id)

    def wait_for_service_state(self, host, state, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            current = self.stack.cinder.service_states().get(
                ('cinder-backup', host), (None, None))[0]
            if current == state:
                return
            time.sleep(0.5)
        self.fail('cinder-backup on %s is not %s after %d s'
                  % (host, state, timeout))

    def preferred_mounts(self):
        """Each host on the address it prefers: a host whose mount moved
        in an earlier test starts again, in a fresh mount namespace."""
        for host, address in zip(self.hosts, self.stack.addresses):
            mounted = self.stack.mounted_address(host)
            if mounted is not None and mounted != address:
                self.stack.cinder.start_backup_host(host)

    def server_of_host(self, host):
        """The ganesha host uses: the one it has mounted, or the one it
        will mount first (its preferred address)."""
        address = self.stack.mounted_address(host)
        if address is None:
            address = self.stack.addresses[self.hosts.index(host)]
        return self.stack.server_of(address)

    def mounted_server(self, host, timeout=60):
        """The ganesha that host has mounted, once it has."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            address = self.stack.mounted_address(host)
            if address is not None:
                return self.stack.server_of(address)
            time.sleep(0.2)
        self.fail('%s mounted nothing in %d s' % (host, timeout))

    # --- volumes and backups ---

    def fill_random(self, volume_id, seed, size=None):
        """Random data over the first size bytes (the whole volume by
        default)."""
        path = self.stack.volume_path(volume_id)
        rng = random.Random(seed)
        with open(path, 'r+b') as f:
            for _ in range((size or os.path.getsize(path)) // (64 * MiB)):
                f.write(rng.randbytes(64 * MiB))

    def wait_scheduled(self, backup_id, timeout=60):
        """The backup host the scheduler gave the backup."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            host = self.record(backup_id)[0]
            if host:
                return host
            time.sleep(0.2)
        self.fail('backup %s got no host in %d s' % (backup_id, timeout))

    def backups_on_every_host(self, seed=0):
        """{host: (volume ID, backup ID)}: an available backup made by
        each backup host.

        Cinder 29's scheduler puts each new backup on a random enabled
        backup host (an incremental too, unless its driver's name says
        posix).  Backups of small volumes are made,
        two at a time, until every host has made one.
        """
        found = {}
        for attempt in range(10):
            volumes = [self.new_volume() for _ in range(2)]
            for n, volume_id in enumerate(volumes):
                self.write(volume_id, 0, stack_case.pattern(
                    seed * 1000 + attempt * 2 + n, MiB))
            backups = [self.start_backup(v) for v in volumes]
            for volume_id, backup_id in zip(volumes, backups):
                self.wait_available(backup_id)
                found.setdefault(self.record(backup_id)[0],
                                 (volume_id, backup_id))
            if set(found) == set(self.hosts):
                return found
        self.fail('the scheduler put no backup on some of %s: %s'
                  % (self.hosts, found))

    def backups_on_both_hosts_at_once(self, volumes):
        """Start backups of two volumes at once until the scheduler gives
        them different hosts; {host: backup ID}, both running.  Pairs that
        land on one host are cancelled (a forced delete) and tried
        again."""
        for _attempt in range(10):
            backups = [self.start_backup(v) for v in volumes]
            hosts = [self.wait_scheduled(b) for b in backups]
            if len(set(hosts)) == 2:
                return dict(zip(hosts, backups))
            for backup_id in backups:
                self.cli.openstack_no_output('volume', 'backup', 'delete',
                                             '--force', backup_id)
            for backup_id in backups:
                self.cli.wait_until_gone('volume backup', backup_id)
            for volume_id in volumes:
                self.cli.wait_for_status('volume', volume_id, 'available')
        self.fail('ten pairs of backups all landed on one host')

    def start_backup(self, volume_id, *options):
        backup_id = self.cli.create_backup(
            volume_id, self.getUniqueString('backup'), *options)
        self.addCleanup(self._delete_quietly, 'volume backup', backup_id)
        return backup_id

    def wait_available(self, backup_id, timeout=FAULT_TIMEOUT):
        return self.cli.wait_for_status('volume backup', backup_id,
                                        'available', timeout=timeout)

    def wait_error(self, backup_id, timeout=FAULT_TIMEOUT):
        shown = self.cli.wait_for_status('volume backup', backup_id,
                                         'error', timeout=timeout,
                                         failed=('available',))
        return self.record(backup_id)[3] or shown.get('fail_reason') or ''

    def objects_stored(self, backup_id):
        return len(self.files_of(backup_id))

    def wait_for_objects(self, backup_id, count, timeout=120):
        deadline = time.monotonic() + timeout
        while self.objects_stored(backup_id) < count:
            if time.monotonic() > deadline:
                self.fail('backup %s stored fewer than %d files in %d s'
                          % (backup_id, count, timeout))
            time.sleep(0.1)

    # --- the operator tools ---

    def tool(self, *args, tools_conf=None):
        """(exit code, stdout, stderr) of cinder-backup-ext."""
        proc = subprocess.run(
            self.stack.tool_argv(*args, tools_conf=tools_conf),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            timeout=TOOL_TIMEOUT,
            env=dict(os.environ, **self.stack.nfs_client.env()))
        return (proc.returncode, proc.stdout.decode(errors='replace'),
                proc.stderr.decode(errors='replace'))

    def report(self, name, text):
        """A figure for the record: in the test's details and the log."""
        self.addDetail(name, content.text_content(text))
        print('%s: %s' % (name, text))


class ServiceWatch(object):
    """Samples one backup host's service state from the API, and the
    number of files a backup has on the export, every 0.2 s."""

    def __init__(self, case, host, backup_id=None):
        self._case = case
        self._host = host
        self._backup_id = backup_id
        self.samples = []      # (monotonic time, state, updated_at, files)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(30)
        return False

    def _run(self):
        stack = self._case.stack
        while not self._stop.is_set():
            state, updated = stack.cinder.service_states().get(
                ('cinder-backup', self._host), (None, None))
            files = (self._case.objects_stored(self._backup_id)
                     if self._backup_id else 0)
            self.samples.append((time.monotonic(), state, updated, files))
            self._stop.wait(0.2)

    def states(self, start, end):
        return {state for t, state, _u, _f in self.samples
                if start <= t <= end}

    def heartbeats(self, start, end):
        """Distinct heartbeat times the API showed in [start, end]."""
        return len({updated for t, _s, updated, _f in self.samples
                    if start <= t <= end})

    def longest_silence(self, start, end):
        """The longest time in [start, end] between two heartbeats the
        API showed (or a heartbeat and either end)."""
        changes = [start]
        last = None
        for t, _s, updated, _f in self.samples:
            if start <= t <= end:
                if last is not None and updated != last:
                    changes.append(t)
                last = updated
        changes.append(end)
        return max(b - a for a, b in zip(changes, changes[1:]))

    def longest_stall(self, start, end):
        """The longest time in [start, end] in which the backup stored
        no new file."""
        changes = [start]
        last = None
        for t, _s, _u, files in self.samples:
            if t < start or t > end:
                continue
            if last is not None and files != last:
                changes.append(t)
            last = files
        changes.append(end)
        return max(b - a for a, b in zip(changes, changes[1:]))


class ProductionStackTest(test_backup_cli.BackupCliTests,
                          tempest_tests.TempestTests,
                          ProductionCase, testtools.TestCase):
    """The CLI tests and tempest, and what only this shape has."""

    BACKUP_DRIVER = production.NFS_DRIVER

    make_stack = ProductionCase.make_stack

    def test_backups_land_on_both_hosts_and_restore_on_the_other(self):
        made = self.backups_on_every_host()
        first, second = self.hosts
        volume_id, backup_id = made[first]
        expected = self.digest(volume_id)
        self.stack.cinder.stop_backup_host(first)
        self.addCleanup(self.stack.cinder.start_backup_host, first)
        self.wait_for_service_state(first, 'down')
        restored = self.restore_to_new_volume(backup_id)
        self.assertEqual(expected, self.digest(restored))
        self.assertEqual(second, self.record(backup_id)[0])

    def test_export_holds_no_plaintext(self):
        name = 'vol-' + MARKER.decode()
        volume = self.cli.openstack('volume', 'create', '--size', '1',
                                    '--property',
                                    'note=' + MARKER.decode(), name)
        volume_id = volume['id']
        self.addCleanup(self._delete_quietly, 'volume', volume_id)
        self.cli.wait_for_status('volume', volume_id, 'available')
        data = bytearray(random_bytes(41, 8 * MiB))
        for offset in range(0, len(data) - len(MARKER), 4096):
            data[offset:offset + len(MARKER)] = MARKER
        text = b'%s compressible words of a guest file. ' % MARKER
        self.write(volume_id, 0, bytes(data))
        self.write(volume_id, 512 * MiB, text * 200000)
        full = self.backup(volume_id)
        self.write(volume_id, 4 * MiB, MARKER * 1000)
        incremental = self.backup(volume_id, '--incremental')

        stored = 0
        for path in self.stored_files():
            with open(os.path.join(self.stack.backup_dir, path), 'rb') as f:
                body = f.read()
            stored += len(body)
            self.assertNotIn(MARKER, body, path)
            self.assertNotIn(b'compressible words', body, path)
        self.assertNotEqual([], self.files_of(full['id']))
        self.assertNotEqual([], self.files_of(incremental['id']))
        # The random part alone is 8 MiB: the scan saw the data.
        self.assertGreater(stored, 8 * MiB)

    def test_one_secret_per_backup_removed_with_it(self):
        before = self.stack.secrets()
        volume_id = self.new_volume()
        self.fill(volume_id, 32)
        full = self.backup(volume_id)
        self.write(volume_id, 0, stack_case.pattern(33, MiB))
        incremental = self.backup(volume_id, '--incremental')
        secrets = self.stack.secrets()
        new = {k: v for k, v in secrets.items() if k not in before}
        self.assertEqual(2, len(new), new)
        for backup in (full, incremental):
            service_metadata = self.record(backup['id'])[1]
            key_id = service_metadata.rsplit(':', 1)[-1]
            self.assertIn(key_id, new)
            self.assertIn(backup['id'], new[key_id])
        self.delete_backup(incremental['id'])
        self.delete_backup(full['id'])
        self.assertEqual(before, self.stack.secrets())

    def test_operator_tools_with_the_etcd_lock(self):
        volume_id = self.new_volume()
        self.fill(volume_id, 34)
        full = self.backup(volume_id)
        self.write(volume_id, 0, stack_case.pattern(35, MiB))
        incremental = self.backup(volume_id, '--incremental')

        code, out, err = self.tool('verify', '--all', '--deep',
                                   '--format', 'json')
        self.assertEqual(0, code, out + err)
        checked = {b['backup']: b for b in json.loads(out)['backups']}
        for backup in (full, incremental):
            self.assertTrue(checked[backup['id']]['ok'], checked)

        # Another host collecting orphans holds the lock in etcd.
        from tooz import coordination
        coordinator = coordination.get_coordinator(
            self.stack.etcd.backend_url, b'test-operator')
        coordinator.start()
        self.addCleanup(coordinator.stop)
        lock = coordinator.get_lock(b'cinder-cinder-backup-ext-orphans')
        self.assertTrue(lock.acquire(blocking=False))
        try:
            code, out, err = self.tool('orphans')
            self.assertEqual(3, code, out + err)
            self.assertIn('another host holds the orphans lock', err)
        finally:
            lock.release()
        code, out, err = self.tool('orphans', '--format', 'json')
        self.assertEqual(0, code, out + err)
        self.assertIn('findings', json.loads(out))

        # Credentials the key manager's Keystone refuses: a clear error.
        wrong = self.stack.write_tools_conf('not-the-password', 'bad.conf')
        code, out, err = self.tool('verify', '--all', tools_conf=wrong)
        self.assertEqual(1, code, out + err)
        self.assertIn('cannot log in to Keystone', err)
        self.assertIn(self.stack.keystone.url, err)


class ProductionFaultTest(ProductionCase, testtools.TestCase):
    """Hung servers, a wrong address, Barbican or etcd away; load.

    One class, one stack: the faults and the load each take both backup
    hosts, and a stack of their own would cost a minute to start and the
    other tests' CPU meanwhile.
    """

    def test_hung_server_during_backup(self):
        self.preferred_mounts()
        volumes = [self.new_volume(), self.new_volume()]
        for n, volume_id in enumerate(volumes):
            self.fill_random(volume_id, 51 + n, FAULT_DATA)
        digests = {v: self.digest(v) for v in volumes}
        running = self.backups_on_both_hosts_at_once(volumes)
        first, second = self.hosts
        backup_id, other_id = running[first], running[second]
        self.wait_for_objects(backup_id, 4)
        victim = self.mounted_server(first)
        self.assertNotEqual(victim, self.mounted_server(second))
        with ServiceWatch(self, first, backup_id) as watch:
            fault = time.monotonic()
            victim.pause()
            self.addCleanup(victim.resume)
            # The other host's backup goes on.
            self.wait_available(other_id)
            self.wait_available(backup_id)
            done = time.monotonic()
        victim.resume()
        self.assertNotEqual(victim, self.mounted_server(first))
        self.assertEqual({'up'}, watch.states(fault, done))
        heartbeats = watch.heartbeats(fault, done)
        self.assertGreaterEqual(heartbeats, 2)
        self.report('hung server during a backup', (
            '%s stopped by SIGSTOP; backup %s on %s stalled %.1f s, done '
            '%.1f s after the fault; the service stayed up with %d '
            'heartbeats meanwhile' % (
                victim.address, backup_id, first,
                watch.longest_stall(fault, done), done - fault,
                heartbeats)))
        source = [v for v in volumes
                  if self.cli.show('volume backup', backup_id)['volume_id']
                  == v][0]
        self.assertEqual(digests[source],
                         self.digest(self.restore_to_new_volume(backup_id)))

    def test_hung_server_during_delete(self):
        self.preferred_mounts()
        doomed_volume, other = self.new_volume(), self.new_volume()
        self.fill_random(doomed_volume, 61, FAULT_DATA)
        doomed = self.start_backup(doomed_volume)
        self.wait_available(doomed)
        self.fill_random(other, 62, FAULT_DATA)
        other_id = self.start_backup(other)
        # The delete goes to the host that is not making that backup.
        second = self.wait_scheduled(other_id)
        first = [h for h in self.hosts if h != second][0]
        victim = self.server_of_host(first)
        self.assertNotEqual(victim, self.mounted_server(second))
        with ServiceWatch(self, first) as watch:
            fault = time.monotonic()
            victim.pause()
            self.addCleanup(victim.resume)
            with self.only_host(first):
                self.cli.openstack_no_output('volume', 'backup', 'delete',
                                             doomed)
            self.cli.wait_until_gone('volume backup', doomed,
                                     timeout=FAULT_TIMEOUT)
            done = time.monotonic()
            # The other host's backup went on meanwhile.
            self.wait_available(other_id)
        victim.resume()
        # The delete ran on the host whose server was stopped.
        self.assertEqual(first, self.record(doomed)[0])
        self.assertEqual([], self.files_of(doomed))
        self.assertEqual({'up'}, watch.states(fault, done))
        heartbeats = watch.heartbeats(fault, done)
        self.assertGreaterEqual(heartbeats, 2)
        self.report('hung server during a delete', (
            '%s stopped by SIGSTOP; the delete on %s took %.1f s; the '
            'service stayed up with %d heartbeats meanwhile' % (
                victim.address, first, done - fault, heartbeats)))

    def test_every_address_hung_fails_with_the_addresses(self):
        volume_id = self.new_volume()
        self.fill(volume_id, 63)
        fault = time.monotonic()
        for server in self.stack.ganesha:
            server.pause()
            self.addCleanup(server.resume)
        backup_id = self.start_backup(volume_id)
        host = self.wait_scheduled(backup_id)
        with ServiceWatch(self, host) as watch:
            reason = self.wait_error(backup_id)
            done = time.monotonic()
        for server in self.stack.ganesha:
            server.resume()
        for address in self.stack.addresses:
            self.assertIn(str(address), reason)
        self.assertIn('backup_share', reason)
        self.assertEqual({'up'}, watch.states(fault, done))
        self.report('every address hung', (
            'backup %s on %s ended in error %.1f s after both servers '
            'stopped: %s; %d heartbeats meanwhile' % (
                backup_id, host, done - fault, reason,
                watch.heartbeats(fault, done))))
        self.assertEqual([], self.files_of(backup_id))
        # Nothing is left stuck: with the servers back, backups work.
        self.backup(volume_id)

    def test_address_of_another_export_is_refused(self):
        from tests.functional import nfs_fixtures
        other_dir = os.path.join(self.stack.work_dir, 'other-export')
        os.makedirs(other_dir)
        [address] = nfs_fixtures.free_loopback_addresses(1)
        self.useFixture(nfs_fixtures.GaneshaServer(
            self.stack.work_dir, address, other_dir,
            production.EXPORT_PATH))
        wrong = '%s,%s:%s' % (self.stack.addresses[0].share, address,
                              production.EXPORT_PATH)
        volume_id = self.new_volume()
        self.fill(volume_id, 64)
        # On every host: the scheduler picks one at random.
        with self.reconfigured({'backup_share': wrong}):
            backup_id = self.start_backup(volume_id)
            reason = self.wait_error(backup_id)
        self.assertIn('do not reach the same export', reason)
        self.assertIn(address, reason)
        for directory, _dirs, files in os.walk(other_dir):
            self.assertNotIn('manifest.json', files)
        self.assertEqual([], self.files_of(backup_id))
        # With backup_share right again, the failed backup goes.
        self.delete_backup(backup_id)

    @contextlib.contextmanager
    def reconfigured(self, options):
        """Every backup host restarted with [DEFAULT] options over
        cinder.conf's, and restarted as it was afterwards."""
        try:
            for host in self.hosts:
                self.stack.cinder.set_backup_host_options(host, options)
                self.stack.cinder.start_backup_host(host)
            yield
        finally:
            for host in self.hosts:
                self.stack.cinder.set_backup_host_options(host, {})
                self.stack.cinder.start_backup_host(host)

    def test_barbican_down_during_backup(self):
        before = self.stack.secrets()
        volume_id = self.new_volume()
        self.fill(volume_id, 65)
        self.stack.barbican.stop()
        self.addCleanup(self.stack.barbican.start)
        backup_id = self.start_backup(volume_id)
        reason = self.wait_error(backup_id)
        self.assertIn('key manager', reason)
        self.assertEqual([], self.files_of(backup_id))
        self.stack.barbican.start()
        self.assertEqual(before, self.stack.secrets())

    def test_etcd_down_tools_refuse_and_backups_go_on(self):
        self.stack.etcd.stop()
        self.addCleanup(self.stack.etcd.start)
        code, out, err = self.tool('orphans')
        self.assertEqual(1, code, out + err)
        self.assertIn('[coordination] backend_url', err)
        self.assertIn(self.stack.etcd.backend_url, err)
        volume_id = self.new_volume()
        self.fill(volume_id, 66)
        expected = self.digest(volume_id)
        backup = self.backup(volume_id)
        self.assertEqual(expected, self.digest(
            self.restore_to_new_volume(backup['id'])))

    # --- load ---

    BACKUPS = 8
    RESTORES = 4

    def test_backups_and_restores_at_once(self):
        """8 backups and 4 restores at once, backup_max_operations at its
        default; each host's peak RSS over the load alone."""
        for host in self.hosts:
            self.stack.cinder.start_backup_host(host)
        volumes = [self.new_volume() for _ in range(self.BACKUPS)]
        sources = volumes[:self.RESTORES]
        for n, volume_id in enumerate(sources):
            self.fill_random(volume_id, 100 + n)
        digests = {v: self.digest(v) for v in sources}
        earlier = [self.start_backup(v) for v in sources]
        for backup_id in earlier:
            self.wait_available(backup_id, timeout=600)
        # Each of the eight backups at once stores a whole volume of new
        # data.
        for n, volume_id in enumerate(volumes):
            self.fill_random(volume_id, 200 + n)

        with ServiceWatch(self, self.hosts[0]) as first, \
                ServiceWatch(self, self.hosts[1]) as second:
            started = time.monotonic()
            backups = [self.start_backup(v) for v in volumes]
            restores = []
            for backup_id in earlier:
                restored = self.cli.openstack(
                    'volume', 'backup', 'restore', backup_id,
                    self.getUniqueString('restored'))
                self.addCleanup(self._delete_quietly, 'volume',
                                restored['volume_id'])
                restores.append((backup_id, restored['volume_id']))
            for backup_id in backups:
                self.wait_available(backup_id, timeout=1200)
            for backup_id, volume_id in restores:
                self.wait_available(backup_id, timeout=1200)
                self.cli.wait_for_status('volume', volume_id, 'available',
                                         timeout=1200)
            elapsed = time.monotonic() - started
            done = time.monotonic()
        silences = {watch: watch.longest_silence(started, done)
                    for watch in (first, second)}
        for (backup_id, volume_id), source in zip(restores, sources):
            self.assertEqual(digests[source], self.digest(volume_id))
        placed = [self.record(b)[0] for b in backups]
        restored_on = [self.record(b)[0] for b, _v in restores]
        peaks = {}
        for host in self.hosts:
            with open('/proc/%d/status' % self.stack.backup_pid(host)) as f:
                for line in f:
                    if line.startswith('VmHWM:'):
                        peaks[host] = int(line.split()[1]) / 1024.0
        self.report('load', (
            '%d backups and %d restores of 1 GiB random volumes at once '
            '(backups %s; restores %s): %.0f s; peak RSS of cinder-backup: '
            '%s; longest time without a heartbeat: %s' % (
                len(backups), len(restores),
                ', '.join('%d on %s' % (placed.count(h), h)
                          for h in self.hosts),
                ', '.join('%d on %s' % (restored_on.count(h), h)
                          for h in self.hosts),
                elapsed, ', '.join('%s %.0f MiB' % item
                                   for item in sorted(peaks.items())),
                ', '.join('%s %.1f s' % (h, silences[w]) for h, w in
                          zip(self.hosts, (first, second))))))
        # Cinder's scheduler places each backup and its API each restore
        # on a random host: nothing to assert about the split.
        for watch in (first, second):
            self.assertEqual({'up'}, watch.states(started, done))
        listed = self.cli.openstack('volume', 'backup', 'list')
        self.assertEqual([], [b for b in listed
                              if b['ID'] in earlier + backups and
                              b['Status'] != 'available'])

        # Everything, earlier tests' backups included: then the export
        # holds nothing but its share marker.
        every = [b['ID'] for b in listed]
        for backup_id in every:
            # Some may be on their way out already.
            self._delete_quietly('volume backup', backup_id)
        for backup_id in every:
            self.cli.wait_until_gone('volume backup', backup_id,
                                     timeout=600)
        left = [f for f in self.stored_files()
                if not f.startswith('.cinder-backup-ext')]
        self.assertEqual([], left)
