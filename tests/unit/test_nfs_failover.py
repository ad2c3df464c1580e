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

from eventlet import patcher
import fixtures
import testtools

from cinder_backup_ext import exception
from cinder_backup_ext.nfs import remotefs
from cinder_backup_ext.nfs import share
from cinder_backup_ext.nfs import share_marker
from cinder_backup_ext.runtime import concurrency
from cinder_backup_ext.storage import failover
from cinder_backup_ext.storage import memory

# Under eventlet (when a Cinder test ran first in this process) the
# threading module is green; the steps below run on native threads.
_native_threading = patcher.original('threading')


class FakeMounts(object):
    def __init__(self, exports, dead=()):
        self.exports = exports          # address -> directory
        self.dead = set(dead)
        self.mounted = None
        self.mount_calls = []
        self.unmounts = 0
        # Mounting must never happen on a native worker.
        self.mounts_on_workers = 0

    @property
    def path(self):
        return self.exports[self.mounted] if self.mounted else '/nonexistent'

    def current(self):
        return self.mounted

    def mount(self, address):
        self.mount_calls.append(address)
        if concurrency.on_native_worker():
            self.mounts_on_workers += 1
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

    @staticmethod
    def connect(connection):
        """What a FailoverStore does before its first operation."""
        generation, store = connection.current()
        if store is None:
            connection.recover(generation, None)
        return connection.current()


class ShareConnectionTest(ConnectionTestCase):

    def test_mounts_on_first_use_and_marks_the_share(self):
        mounts, connection = self.connection()
        self.assertEqual((0, None), connection.current())
        self.assertEqual([], mounts.mount_calls)
        generation, store = self.connect(connection)
        self.assertEqual(self.addresses[0], connection.address)
        self.assertEqual(self.export, store.root)
        marker = share_marker.read_marker(self.export)
        self.assertIsNotNone(marker)
        self.assertEqual(2, marker.format_version)

    def test_failed_mount_tries_the_next_address(self):
        mounts, connection = self.connection(dead=[self.addresses[0]])
        self.connect(connection)
        self.assertEqual(self.addresses[1], connection.address)

    def test_gives_up_after_attempts_on_every_address(self):
        mounts, connection = self.connection(dead=self.addresses,
                                             attempts=2)
        error = self.assertRaises(exception.ShareUnavailable,
                                  self.connect, connection)
        for address in self.addresses:
            self.assertIn(str(address), str(error))
            self.assertEqual(2, mounts.mount_calls.count(address))
        # Once given up, later calls fail at once without mounting.
        calls = len(mounts.mount_calls)
        self.assertRaises(exception.ShareUnavailable, connection.current)
        self.assertEqual(calls, len(mounts.mount_calls))

    def test_recover_moves_to_the_next_address(self):
        mounts, connection = self.connection()
        generation, _store = self.connect(connection)
        mounts.dead.add(self.addresses[0])
        connection.recover(generation, OSError(errno.EIO, 'dead'))
        self.assertEqual(self.addresses[1], connection.address)
        self.assertFalse(connection.is_current(generation))
        self.assertIsNotNone(connection.current()[1])

    def test_recover_of_an_old_generation_does_not_remount(self):
        mounts, connection = self.connection()
        generation, _store = self.connect(connection)
        connection.recover(generation, OSError(errno.EIO, 'dead'))
        calls = len(mounts.mount_calls)
        # A second thread that failed on the old mount just retries.
        connection.recover(generation, OSError(errno.EIO, 'dead'))
        self.assertEqual(calls, len(mounts.mount_calls))

    def test_adopts_a_healthy_mount_of_another_operation(self):
        mounts, connection = self.connection()
        mounts.mounted = self.addresses[2]
        self.connect(connection)
        self.assertEqual(self.addresses[2], connection.address)
        self.assertEqual([], [a for a in mounts.mount_calls
                              if a == self.addresses[2]])

    def test_a_hung_mount_found_in_place_is_not_adopted_again(self):
        # Another operation's mount of n1 hangs: this operation must mount
        # n2 instead of trying the hung mount once per address.
        mounts, connection = self.connection(attempts=1)
        mounts.mounted = self.addresses[0]
        read_marker = share.ShareConnection._read_marker

        def hung(address, root):
            if mounts.mounted == self.addresses[0]:
                raise OSError(errno.EIO, 'server not responding')
            return read_marker(address, root)
        self.useFixture(fixtures.MonkeyPatch(
            'cinder_backup_ext.nfs.share.ShareConnection._read_marker',
            staticmethod(hung)))
        self.connect(connection)
        self.assertEqual(self.addresses[1], connection.address)
        self.assertEqual([self.addresses[1]], mounts.mount_calls)

    def test_address_of_another_export_is_refused(self):
        other = os.path.join(self.export + '-other')
        os.makedirs(other)
        exports = {self.addresses[0]: self.export,
                   self.addresses[1]: other,
                   self.addresses[2]: self.export}
        mounts, connection = self.connection(exports=exports)
        error = self.assertRaises(exception.ShareMismatch,
                                  self.connect, connection)
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
        generation, _store = self.connect(connection)
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
        self.assertRaises(exception.ShareMismatch, self.connect, connection)

    def test_marker_creation_race_keeps_the_first(self):
        first = share_marker.create_marker(self.export)
        second = share_marker.create_marker(self.export)
        self.assertEqual(first, second)
        self.assertEqual([share_marker.MARKER_NAME],
                         os.listdir(self.export))


class FakeConnection(object):
    """Hands out a MemoryStore that fails on demand; connected at once
    unless told otherwise."""

    def __init__(self, failures, connected=True):
        self.failures = list(failures)
        self.generation = 0
        self.connected = connected
        self.recovered = []
        self.recovery_threads = []
        self.store = memory.MemoryStore()

    def current(self):
        if not self.connected:
            return self.generation, None
        connection = self

        class Failing(object):
            def __getattr__(self, name):
                method = getattr(connection.store, name)

                def call(*args):
                    if connection.failures:
                        failure = connection.failures.pop(0)
                        if callable(failure):
                            failure = failure()
                        if failure is not None:
                            raise failure
                    return method(*args)
                return call
        return self.generation, Failing()

    def is_current(self, generation):
        return generation == self.generation

    recoverable = staticmethod(remotefs.is_dead_server_error)

    def recover(self, generation, error):
        self.recovery_threads.append(concurrency.on_native_worker())
        if generation != self.generation:
            return
        self.recovered.append((generation, error and error.errno))
        self.connected = True
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

    def test_first_operation_connects(self):
        connection = FakeConnection([], connected=False)
        store = failover.FailoverStore(connection, max_recoveries=2)
        store.put_object('c', 'o', b'x')
        self.assertEqual([(0, None)], connection.recovered)
        self.assertEqual(b'x', connection.store.get_object('c', 'o'))

    def test_an_operation_the_share_was_remounted_under_runs_again(self):
        connection = FakeConnection([])
        store = failover.FailoverStore(connection, max_recoveries=2)

        def remount_meanwhile():
            # Another step failed over while this one ran: what it did
            # may have gone to the bare mount point.
            connection.generation += 1
        connection.failures = [remount_meanwhile]
        store.put_object('c', 'o', b'x')
        self.assertEqual(b'x', connection.store.get_object('c', 'o'))
        # Recovering was not needed: the generation had moved on.
        self.assertEqual([], connection.recovered)
        self.assertEqual([False], connection.recovery_threads)

    def test_any_error_while_remounted_is_retried(self):
        connection = FakeConnection([])
        store = failover.FailoverStore(connection, max_recoveries=2)

        def vanished():
            connection.generation += 1
            return OSError(errno.ENOENT, 'empty mount point')
        connection.failures = [vanished]
        store.put_object('c', 'o', b'x')
        self.assertEqual(b'x', connection.store.get_object('c', 'o'))


class HandBackTest(testtools.TestCase):
    """On native workers, recovery is handed back to the caller's thread."""

    def run_on_workers(self, connection, max_recoveries=3, steps=1):
        store = failover.FailoverStore(connection, max_recoveries)
        with concurrency.NativeWorkers(2) as workers:
            return list(concurrency.ordered_map(
                workers, lambda n: store.put_object('c', 'o%d' % n, b'x'),
                range(steps), 2))

    def test_recovery_runs_on_the_callers_thread(self):
        connection = FakeConnection([OSError(errno.EIO, 'x')],
                                    connected=False)
        caller = _native_threading.get_ident()
        seen = []
        recover = connection.recover

        def recover_here(generation, error):
            seen.append(_native_threading.get_ident())
            recover(generation, error)
        connection.recover = recover_here
        self.run_on_workers(connection)
        self.assertEqual([(0, None), (1, errno.EIO)], connection.recovered)
        self.assertEqual([False, False], connection.recovery_threads)
        self.assertEqual({caller}, set(seen))
        self.assertTrue(connection.store.exists('c', 'o0'))

    def test_steps_failing_together_recover_once(self):
        # Both steps in flight fail on generation 0: one failover.  Each
        # fails only once both have started, so neither can see the
        # failover the other's failure brings.
        both_started = _native_threading.Barrier(2, timeout=10)

        def fail_together(name):
            def failure():
                both_started.wait()
                return OSError(errno.EIO, name)
            return failure
        connection = FakeConnection([fail_together('a'),
                                     fail_together('b')])
        self.run_on_workers(connection, steps=2)
        self.assertEqual([(0, errno.EIO)], connection.recovered)
        self.assertEqual(['c/o0', 'c/o1'], sorted(
            'c/' + n for n in connection.store.list_objects('c')))

    def test_a_step_handed_back_too_often_fails_with_its_error(self):
        connection = FakeConnection([OSError(errno.EIO, 'x')] * 10)
        error = self.assertRaises(OSError, self.run_on_workers, connection,
                                  max_recoveries=2)
        self.assertEqual(errno.EIO, error.errno)
        self.assertEqual(3, len(connection.recovered))

    def test_a_failing_pipeline_runs_no_more_remedies(self):
        connection = FakeConnection([])
        store = failover.FailoverStore(connection, max_recoveries=3)

        def step(n):
            if n == 0:
                raise ValueError('first step fails')
            connection.generation += 1  # every later step wants a remount
            return store.put_object('c', 'o%d' % n, b'x')
        with concurrency.NativeWorkers(2) as workers:
            self.assertRaises(ValueError, list, concurrency.ordered_map(
                workers, step, range(4), 3))
        self.assertEqual([], connection.recovered)

    def test_any_step_that_hands_back_is_served_at_once(self):
        # The oldest step waits on the dead server until the failover
        # aborts its call; the failover must not wait for it in turn.
        remounted = _native_threading.Event()
        order = []

        def remount():
            order.append('remedy')
            remounted.set()

        def step(n):
            if n == 0:
                if not remounted.wait(10):
                    raise AssertionError('the failover waited for the '
                                         'oldest step')
                return 'head'
            if not remounted.is_set():
                raise concurrency.HandBack(remount, OSError(errno.EIO, 'x'))
            return 'second'
        with concurrency.NativeWorkers(2) as workers:
            results = list(concurrency.ordered_map(workers, step, range(2),
                                                   2))
        self.assertEqual(['head', 'second'], results)
        self.assertEqual(['remedy'], order)


class ShareMountThreadTest(ConnectionTestCase):

    def test_mounting_and_failover_never_run_on_a_native_worker(self):
        mounts, connection = self.connection()
        store = failover.FailoverStore(connection, max_recoveries=3)
        with concurrency.NativeWorkers(2) as workers:
            workers.call(store.put_object, 'c', 'o', b'x')
            mounts.dead.add(connection.address)
            generation = connection.current()[0]
            # The server of the mount in use dies under a worker.
            failing = [OSError(errno.EIO, 'server died')]
            put = store._connection.current()[1].put_object

            def dying(*args):
                if failing:
                    raise failing.pop()
                return put(*args)
            self.useFixture(fixtures.MonkeyPatch(
                'cinder_backup_ext.storage.posix.PosixStore.put_object',
                lambda _store, *args: dying(*args)))
            workers.call(store.put_object, 'c', 'o2', b'y')
        self.assertFalse(connection.is_current(generation))
        self.assertEqual(self.addresses[1], connection.address)
        self.assertEqual(2, len(mounts.mount_calls))
        self.assertEqual(0, mounts.mounts_on_workers)
