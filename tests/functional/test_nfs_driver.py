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

"""NFSBackupDriver against real NFS servers (nfs-ganesha on loopback).

Each test gets its own export directory, servers on its own loopback
addresses and one or more cinder-backup hosts (child processes in private
mount namespaces, see nfs_fixtures).  Data is checked by hashing files;
the repository is inspected directly in the export directory.
"""

import os
import random
import signal

import fixtures
import testtools
from testtools import content

from cinder_backup_ext.nfs import remotefs
from cinder_backup_ext.nfs import share_marker
from tests import checksums
from tests.functional import nfs_fixtures

MiB = 1024 * 1024


def volume_bytes(size, seed):
    """Half random, a quarter zeros, a quarter text: every path of the
    engine (stored, skipped, compressed) sees data."""
    rng = random.Random(seed)
    quarter = size // 4
    text = bytes(rng.choice(b'ACGT') for _ in range(4096)) * (quarter // 4096)
    return (rng.randbytes(2 * quarter) + bytes(quarter) + text)[:size]


class NFSTestCase(testtools.TestCase):

    ADDRESSES = 2

    def setUp(self):
        super().setUp()
        reason = nfs_fixtures.missing_prerequisites()
        if reason:
            self.skipTest(reason)
        self.useFixture(fixtures.Timeout(240, gentle=True))
        self.work = self.useFixture(fixtures.TempDir()).path
        self.export = os.path.join(self.work, 'export')
        os.makedirs(self.export)
        self.addresses = nfs_fixtures.free_loopback_addresses(self.ADDRESSES)
        self.servers = [self.start_server(address, self.export)
                        for address in self.addresses]

    def start_server(self, address, directory):
        return self.useFixture(nfs_fixtures.GaneshaServer(
            self.work, address, directory))

    def share(self, addresses=None):
        return ','.join('%s:/backups' % a for a in addresses or
                        self.addresses)

    def hosts(self, share=None, **kwargs):
        return self.useFixture(nfs_fixtures.BackupHosts(
            self.work, share or self.share(), **kwargs))

    def log_host(self, tag, output, driver_log):
        self.addDetail('%s output' % tag, content.text_content(output))
        self.addDetail('%s driver log' % tag,
                       content.text_content(driver_log))

    def host_preferring(self, address):
        """A host name whose preferred address is address."""
        parsed = remotefs.parse_share(self.share())
        for n in range(1000):
            name = 'backup-host-%d' % n
            if remotefs.preferred_order(parsed, name)[0].host == address:
                return name
        raise AssertionError('no host name prefers %s' % address)

    def write_volume(self, data, name='volume.img'):
        path = os.path.join(self.work, name)
        with open(path, 'wb') as f:
            f.write(data)
        return path

    def new_target(self, size, name):
        path = os.path.join(self.work, name)
        with open(path, 'wb') as f:
            f.truncate(size)
        return path

    def assertStepOk(self, result):
        self.assertTrue(result['ok'], '%s failed: %s\n%s' % (
            result['op'], result.get('error'), result.get('traceback')))

    def manifests(self):
        found = []
        for directory, _dirs, files in os.walk(self.export):
            if 'manifest.json' in files:
                found.append(os.path.relpath(directory, self.export))
        return found


class TestBackupRestoreThroughEachAddress(NFSTestCase):

    def test_backup_and_restore_through_each_address(self):
        data = volume_bytes(4 * MiB, seed=1)
        volume = self.write_volume(data)
        hosts = self.hosts()
        for address in self.addresses:
            host = self.host_preferring(address)
            target = self.new_target(len(data), 'restored-%s' % address)
            results = hosts.run(host, [
                {'op': 'check_setup'},
                {'op': 'backup', 'volume': volume},
            ], log=self.log_host)
            for result in results:
                self.assertStepOk(result)
            backup_id = results[1]['backup_id']
            self.assertEqual('%s:/backups' % address, results[1]['mounted'])
            results = hosts.run(host, [
                {'op': 'restore', 'backup_id': backup_id, 'target': target},
            ], log=self.log_host)
            self.assertStepOk(results[0])
            self.assertEqual(checksums.sha256_bytes(data),
                             results[0]['sha256'])
        self.assertEqual(2, len(self.manifests()))
        marker = share_marker.read_marker(self.export)
        self.assertIsNotNone(marker, 'no share marker at the export root')


class TestFailover(NFSTestCase):
    """A server of the share dies or hangs in the middle of a backup."""

    SIZE = 16 * MiB

    def _backup_with_fault(self, signum):
        data = volume_bytes(self.SIZE, seed=signum)
        volume = self.write_volume(data)
        victim, survivor = self.servers
        host = self.host_preferring(victim.address)
        hosts = self.hosts()
        target = self.new_target(len(data), 'restored.img')
        results = hosts.run(host, [
            {'op': 'backup', 'volume': volume,
             'fault': {'at_byte': self.SIZE // 4, 'pids': [victim.pid],
                       'signal': signum}},
        ], log=self.log_host)
        backup = results[0]
        self.assertStepOk(backup)
        timeline = backup['timeline']
        self.assertIn('stall_s', timeline, 'the fault never fired')
        self.assertEqual('%s:/backups' % survivor.address, backup['mounted'],
                         'the backup did not end on the other address')
        # With the victim still down, the restore must go through the
        # survivor too, and give back every byte.
        results = hosts.run(host, [
            {'op': 'restore', 'backup_id': backup['backup_id'],
             'target': target},
        ], log=self.log_host)
        self.assertStepOk(results[0])
        self.assertEqual(checksums.sha256_bytes(data), results[0]['sha256'])
        self.assertEqual('%s:/backups' % survivor.address,
                         results[0]['mounted'])
        report = ('failover timeline (%s, %d MiB volume): server %s '
                  'signalled at %.2f s; the backup stalled %.2f s; done at '
                  '%.2f s (%.2f s after the fault)' % (
                      signal.Signals(signum).name, self.SIZE // MiB,
                      victim.address, timeline['fault_at_s'],
                      timeline['stall_s'], timeline['total_s'],
                      timeline['after_fault_s']))
        self.addDetail('failover timeline', content.text_content(report))
        print(report)
        return timeline

    def test_server_hangs_mid_backup(self):
        # SIGSTOP: requests to the server go unanswered until the mount's
        # timeout (timeo=30,retrans=0: 3 s) turns them into EIO.
        timeline = self._backup_with_fault(signal.SIGSTOP)
        self.assertLess(timeline['stall_s'], 30)

    def test_server_killed_mid_backup(self):
        timeline = self._backup_with_fault(signal.SIGKILL)
        self.assertLess(timeline['stall_s'], 30)


class TestAllAddressesDown(NFSTestCase):

    def test_every_server_dies_mid_backup(self):
        data = volume_bytes(8 * MiB, seed=7)
        volume = self.write_volume(data)
        hosts = self.hosts()
        results = hosts.run('backup-host-1', [
            {'op': 'backup', 'volume': volume,
             'fault': {'at_byte': 2 * MiB,
                       'pids': [s.pid for s in self.servers],
                       'signal': signal.SIGKILL}},
        ], log=self.log_host)
        backup = results[0]
        self.assertFalse(backup['ok'], 'backup succeeded with no server')
        self.assertEqual('ShareUnavailable', backup['error_type'])
        for address in self.addresses:
            self.assertIn(address, backup['error'])
        # Nothing half-written may look like a complete backup.
        self.assertEqual([], self.manifests())

    def test_unreachable_at_startup_is_not_fatal(self):
        for server in self.servers:
            server.stop()
        data = volume_bytes(2 * MiB, seed=8)
        volume = self.write_volume(data)
        hosts = self.hosts()
        results = hosts.run('backup-host-1', [
            {'op': 'check_setup'},
            {'op': 'backup', 'volume': volume},
        ], log=self.log_host)
        self.assertStepOk(results[0])
        self.assertFalse(results[1]['ok'])
        self.assertEqual('ShareUnavailable', results[1]['error_type'])
        self.assertEqual([], self.manifests())
        # The service stayed up; once a server is back the next backup
        # mounts and works.
        self.servers[1].start()
        results = hosts.run('backup-host-1', [
            {'op': 'backup', 'volume': volume},
        ], log=self.log_host)
        self.assertStepOk(results[0])
        self.assertEqual(1, len(self.manifests()))


class TestDifferentExports(NFSTestCase):

    ADDRESSES = 0

    def test_addresses_of_different_exports_are_refused(self):
        self.addresses = nfs_fixtures.free_loopback_addresses(2)
        other = os.path.join(self.work, 'other-export')
        os.makedirs(other)
        self.servers = [self.start_server(self.addresses[0], self.export),
                        self.start_server(self.addresses[1], other)]
        volume = self.write_volume(volume_bytes(MiB, seed=3))
        hosts = self.hosts()
        results = hosts.run('backup-host-1', [
            {'op': 'check_setup'},
            {'op': 'backup', 'volume': volume},
        ], log=self.log_host)
        self.assertStepOk(results[0])
        self.assertFalse(results[1]['ok'], 'backup went to a split share')
        self.assertEqual('ShareMismatch', results[1]['error_type'])
        for address in self.addresses:
            self.assertIn(address, results[1]['error'])
        self.assertEqual([], self.manifests())
        for directory, _dirs, files in os.walk(other):
            self.assertNotIn('manifest.json', files)


class TestSecondBackupHost(NFSTestCase):

    def test_second_host_sees_the_same_paths(self):
        data = volume_bytes(4 * MiB, seed=5)
        volume = self.write_volume(data)
        first = self.host_preferring(self.addresses[0])
        second = self.host_preferring(self.addresses[1])
        hosts = self.hosts()
        made = hosts.run(first, [{'op': 'backup', 'volume': volume}],
                         log=self.log_host)[0]
        self.assertStepOk(made)
        target = self.new_target(len(data), 'restored.img')
        results = hosts.run(second, [
            {'op': 'restore', 'backup_id': made['backup_id'],
             'target': target},
            {'op': 'delete', 'backup_id': made['backup_id']},
        ], log=self.log_host)
        for result in results:
            self.assertStepOk(result)
        self.assertEqual(made['mount_point'], results[0]['mount_point'])
        self.assertEqual('%s:/backups' % self.addresses[0], made['mounted'])
        self.assertEqual('%s:/backups' % self.addresses[1],
                         results[0]['mounted'])
        self.assertEqual(checksums.sha256_bytes(data), results[0]['sha256'])
        self.assertEqual([], self.manifests())
