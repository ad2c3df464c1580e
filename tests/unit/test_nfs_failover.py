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

"""FailoverStore and ShareConnection decisions, with fake mounts.

Mounts are simulated: each address is a directory, "mounting" an address
points the mount at it, and a test can make an address dead (every mount
of it fails) or hand out I/O errors from the store.  Real mounts are the
functional tests' job.
"""

import errno
import os

import fixtures
import testtools

from cinder_backup_ext import exception
from cinder_backup_ext import remotefs
from cinder_backup_ext import share
from cinder_backup_ext import share_marker
from cinder_backup_ext.storage import failover
from cinder_backup_ext.storage import memory


class FakeMounts(object):
    def __init__(self, exports, dead=()):
        self.exports = exports          # address -> directory
        self.dead = set(dead)
        self.mounted = None
        self.mount_calls = []
        self.unmounts = 0

    @property
    def path(self):
        return self.exports[self.mounted] if self.mounted else '/nonexistent'

    def current(self):
        return self.mounted

    def mount(self, address):
        self.mount_calls.append(address)
        if self.mounted is not None:
            self.unmount()
        if address in self.dead:
            raise OSError(errno.ETIMEDOUT, 'mount timed out', str(address))
        self.mounted = address

    def unmount(self):
        self.unmounts += 1
        self.mounted = None

    def probe_client(self):
        return FakeMounts(self.exports, self.dead)


class NoLock(object):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class ConnectionTestCase(testtools.TestCase):

    def setUp(self):
        super().setUp()
        share.forget_identities()
        self.addCleanup(share.forget_identities)
        tmp = self.useFixture(fixtures.TempDir()).path
        self.export = os.path.join(tmp, 'export')
        os.makedirs(self.export)
        self.addresses = remotefs.parse_share('n1:/b,n2:/b,n3:/b')

    def connection(self, exports=None, dead=(), attempts=2):
        mounts = FakeMounts(exports or {a: self.export
                                        for a in self.addresses}, dead)
        return mounts, share.ShareConnection(
            mounts, self.addresses, attempts, NoLock, retry_interval=0)


class ShareConnectionTest(ConnectionTestCase):

    def test_mounts_on_first_use_and_marks_the_share(self):
        mounts, connection = self.connection()
        self.assertEqual([], mounts.mount_calls)
        generation, store = connection.current()
        self.assertEqual(self.addresses[0], connection.address)
        self.assertEqual(self.export, store.root)
        marker = share_marker.read_marker(self.export)
        self.assertIsNotNone(marker)
        self.assertEqual(2, marker.format_version)

    def test_failed_mount_tries_the_next_address(self):
        mounts, connection = self.connection(dead=[self.addresses[0]])
        connection.current()
        self.assertEqual(self.addresses[1], connection.address)

    def test_gives_up_after_attempts_on_every_address(self):
        mounts, connection = self.connection(dead=self.addresses,
                                             attempts=2)
        error = self.assertRaises(exception.ShareUnavailable,
                                  connection.current)
        for address in self.addresses:
            self.assertIn(str(address), str(error))
            self.assertEqual(2, mounts.mount_calls.count(address))
        # Once given up, later calls fail at once without mounting.
        calls = len(mounts.mount_calls)
        self.assertRaises(exception.ShareUnavailable, connection.current)
        self.assertEqual(calls, len(mounts.mount_calls))

    def test_recover_moves_to_the_next_address(self):
        mounts, connection = self.connection()
        generation, _store = connection.current()
        mounts.dead.add(self.addresses[0])
        connection.recover(generation, OSError(errno.EIO, 'dead'))
        self.assertEqual(self.addresses[1], connection.address)
        self.assertEqual(generation + 1, connection.current()[0])

    def test_recover_of_an_old_generation_does_not_remount(self):
        mounts, connection = self.connection()
        generation, _store = connection.current()
        connection.recover(generation, OSError(errno.EIO, 'dead'))
        calls = len(mounts.mount_calls)
        # A second thread that failed on the old mount just retries.
        connection.recover(generation, OSError(errno.EIO, 'dead'))
        self.assertEqual(calls, len(mounts.mount_calls))

    def test_adopts_a_healthy_mount_of_another_operation(self):
        mounts, connection = self.connection()
        mounts.mounted = self.addresses[2]
        connection.current()
        self.assertEqual(self.addresses[2], connection.address)
        self.assertEqual([], [a for a in mounts.mount_calls
                              if a == self.addresses[2]])

    def test_address_of_another_export_is_refused(self):
        other = os.path.join(self.export + '-other')
        os.makedirs(other)
        exports = {self.addresses[0]: self.export,
                   self.addresses[1]: other,
                   self.addresses[2]: self.export}
        mounts, connection = self.connection(exports=exports)
        error = self.assertRaises(exception.ShareMismatch,
                                  connection.current)
        self.assertIn(str(self.addresses[0]), str(error))
        self.assertIn(str(self.addresses[1]), str(error))

    def test_failover_to_another_repository_is_refused(self):
        other = os.path.join(self.export + '-other')
        os.makedirs(other)
        share_marker.create_marker(other)
        exports = {self.addresses[0]: self.export,
                   self.addresses[1]: other,
                   self.addresses[2]: self.export}
        # Only n1 reachable at first: n2 is checked when failover uses it.
        mounts, connection = self.connection(
            exports=exports, dead=self.addresses[1:])
        generation, _store = connection.current()
        mounts.dead = {self.addresses[0], self.addresses[2]}
        error = self.assertRaises(
            exception.ShareMismatch, connection.recover, generation,
            OSError(errno.ESTALE, 'stale'))
        self.assertIn(str(self.addresses[1]), str(error))
        self.assertIn(str(self.addresses[0]), str(error))

    def test_a_damaged_marker_is_refused(self):
        with open(os.path.join(self.export, share_marker.MARKER_NAME),
                  'wb') as f:
            f.write(b'{"kind": "something else"}')
        _mounts, connection = self.connection()
        self.assertRaises(exception.ShareMismatch, connection.current)

    def test_marker_creation_race_keeps_the_first(self):
        first = share_marker.create_marker(self.export)
        second = share_marker.create_marker(self.export)
        self.assertEqual(first, second)
        self.assertEqual([share_marker.MARKER_NAME],
                         os.listdir(self.export))


class FakeConnection(object):
    """Hands out a MemoryStore that fails on demand."""

    def __init__(self, failures):
        self.failures = list(failures)
        self.generation = 0
        self.recovered = []
        self.store = memory.MemoryStore()

    def current(self):
        connection = self

        class Failing(object):
            def __getattr__(self, name):
                method = getattr(connection.store, name)

                def call(*args):
                    if connection.failures:
                        raise connection.failures.pop(0)
                    return method(*args)
                return call
        return self.generation, Failing()

    recoverable = staticmethod(remotefs.is_dead_server_error)

    def recover(self, generation, error):
        self.recovered.append((generation, error.errno))
        self.generation += 1


class FailoverStoreTest(testtools.TestCase):

    def test_dead_server_errors_are_retried_after_recovery(self):
        connection = FakeConnection([OSError(errno.EIO, 'x'),
                                     OSError(errno.ESTALE, 'y')])
        store = failover.FailoverStore(connection, max_recoveries=5)
        store.put_object('c', 'o', b'data')
        self.assertEqual(b'data', store.get_object('c', 'o'))
        self.assertEqual([(0, errno.EIO), (1, errno.ESTALE)],
                         connection.recovered)

    def test_other_errors_are_not_retried(self):
        connection = FakeConnection([OSError(errno.ENOSPC, 'full')])
        store = failover.FailoverStore(connection, max_recoveries=5)
        error = self.assertRaises(OSError, store.put_object, 'c', 'o', b'x')
        self.assertEqual(errno.ENOSPC, error.errno)
        self.assertEqual([], connection.recovered)

    def test_missing_objects_are_not_retried(self):
        connection = FakeConnection([])
        store = failover.FailoverStore(connection, max_recoveries=5)
        self.assertRaises(exception.ObjectNotFound, store.get_object,
                          'c', 'missing')
        self.assertFalse(store.exists('c', 'missing'))
        self.assertEqual([], connection.recovered)

    def test_gives_up_after_max_recoveries(self):
        connection = FakeConnection([OSError(errno.EIO, 'x')] * 10)
        store = failover.FailoverStore(connection, max_recoveries=3)
        self.assertRaises(OSError, store.list_objects, 'c')
        self.assertEqual(3, len(connection.recovered))

    def test_every_engine_operation_is_wrapped(self):
        for name, args in (('put_container', ('c',)),
                           ('put_object', ('c', 'o', b'x')),
                           ('get_object', ('c', 'o')),
                           ('object_size', ('c', 'o')),
                           ('exists', ('c', 'o')),
                           ('list_objects', ('c',)),
                           ('delete_object', ('c', 'o')),
                           ('delete_container', ('c',))):
            connection = FakeConnection([OSError(errno.ENOTCONN, 'x')])
            connection.store.put_object('c', 'o', b'x')
            store = failover.FailoverStore(connection, max_recoveries=2)
            getattr(store, name)(*args)
            self.assertEqual(1, len(connection.recovered), name)
