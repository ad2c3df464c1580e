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

"""Rate limits of volume I/O: the token bucket on a fake clock, and real
backups and restores through the driver.

Timed tests assert lower bounds only: a loaded machine may make anything
slower, never faster than its limit.
"""

import time
from unittest import mock

import testtools

from cinder import utils as cinder_utils
from oslo_utils import units

from cinder_backup_ext.volume import throttle
from cinder_backup_ext.volume import volume_io
from tests.unit import driver_base as base
from tests.unit import fake_rbd

# Less than a full second of waiting asked for: timers may round down.
SLACK = 0.95


class FakeClock(object):

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class TokenBucketTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.clock = FakeClock()

    def bucket(self, rate, burst=None):
        return throttle.TokenBucket(rate, burst=burst, clock=self.clock)

    def test_a_full_bucket_lets_one_second_through_at_once(self):
        bucket = self.bucket(1000)
        self.assertEqual(0, bucket.take(600))
        self.assertEqual(0, bucket.take(400))
        self.assertAlmostEqual(0.5, bucket.take(500))

    def test_the_rate_refills_it(self):
        bucket = self.bucket(1000)
        bucket.take(1000)
        self.clock.now += 0.25
        self.assertEqual(0, bucket.take(250))
        self.assertAlmostEqual(0.1, bucket.take(100))

    def test_the_burst_is_capped(self):
        bucket = self.bucket(1000)
        self.clock.now += 3600
        self.assertEqual(0, bucket.take(1000))
        self.assertAlmostEqual(0.001, bucket.take(1))

    def test_a_charge_larger_than_the_burst_is_not_refused(self):
        # An object bigger than a second of the rate: let through, and paid
        # for by waiting.
        bucket = self.bucket(1000)
        self.assertAlmostEqual(2.0, bucket.take(3000))

    def test_debt_makes_the_next_caller_wait_behind_it(self):
        bucket = self.bucket(1000)
        self.assertAlmostEqual(1.0, bucket.take(2000))
        self.assertAlmostEqual(1.5, bucket.take(500))
        # Once the first has waited its second, the second caller's wait
        # is what is left of its own.
        self.clock.now += 1.0
        self.assertAlmostEqual(0.5, bucket.take(0))

    def test_an_explicit_burst(self):
        bucket = self.bucket(1000, burst=4000)
        self.assertEqual(0, bucket.take(4000))
        self.assertAlmostEqual(1.0, bucket.take(1000))

    def test_two_users_share_one_rate(self):
        # Two operations charging one bucket in turns, each waiting what it
        # is told: together they move at the rate, not twice it.
        bucket = self.bucket(1000)
        waits = {'a': 0.0, 'b': 0.0}
        for _ in range(10):
            for user in ('a', 'b'):
                wait = bucket.take(500)
                waits[user] += wait
                self.clock.now += wait
        moved = 10 * 2 * 500
        elapsed = self.clock.now - 1000.0
        self.assertAlmostEqual((moved - 1000) / 1000.0, elapsed)
        self.assertAlmostEqual(waits['a'], waits['b'], delta=0.5)

    def test_a_rate_of_zero_is_no_bucket(self):
        self.assertRaises(ValueError, throttle.TokenBucket, 0)

    def test_charging_no_bucket_never_waits(self):
        with mock.patch.object(throttle, '_wait') as wait:
            throttle.charge([], 10 * units.Gi)
            throttle.charge([self.bucket(1000)], 0)
        wait.assert_not_called()

    def test_charge_waits_as_long_as_the_slowest_bucket(self):
        fast, slow = self.bucket(1000), self.bucket(100)
        with mock.patch.object(throttle, '_wait') as wait:
            throttle.charge([fast, slow], 300)
        wait.assert_called_once_with(mock.ANY)
        self.assertAlmostEqual(2.0, wait.call_args[0][0])


class ThrottledDriverTest(base.DriverTestCase):

    SIZE = 1 * units.Mi
    RATE = 512 * units.Ki

    def setUp(self):
        super().setUp()
        # The host's bucket outlives an operation: none from another test.
        self.addCleanup(setattr, throttle, '_host_bucket', None)
        throttle._host_bucket = None

    def count_waits(self):
        """Record the waits asked for instead of waiting."""
        waits = []
        self.mock_object(throttle, '_wait', waits.append)
        return waits

    def count_charges(self):
        charged = []
        real = throttle.charge

        def charge(buckets, count):
            charged.append(count)
            real(buckets, count)
        self.mock_object(throttle, 'charge', charge)
        return charged

    def timed(self, fn, *args, **kwargs):
        start = time.monotonic()
        result = fn(*args, **kwargs)
        return time.monotonic() - start, result

    # --- backups -----------------------------------------------------------

    def test_no_limit_plain_volume_file(self):
        vf = throttle.for_backup(object(), None)
        self.assertIs(volume_io.VolumeFile, type(vf))
        self.assertIs(volume_io.VolumeFile, type(
            throttle.for_restore(object(), None)))

    def test_a_backup_takes_at_least_its_bytes_over_the_rate(self):
        self.flags(backup_read_bytes_per_second=self.RATE)
        data = base.random_bytes(self.SIZE, 1)
        elapsed, backup = self.timed(self.run_backup, data)
        # The first second of the rate is a burst; the rest is waited for.
        self.assertGreaterEqual(elapsed,
                                SLACK * (self.SIZE - self.RATE) / self.RATE)
        self.assertRestores(backup, data)

    def test_a_limit_of_zero_never_waits(self):
        self.flags(backup_read_bytes_per_second=0,
                   backup_host_bytes_per_second=0)
        waits = self.count_waits()
        data = base.random_bytes(self.SIZE, 2)
        backup = self.run_backup(data)
        self.assertRestores(backup, data)
        self.assertEqual([], waits)

    def test_every_byte_read_is_charged(self):
        self.flags(backup_read_bytes_per_second=units.Gi)
        charged = self.count_charges()
        data = base.random_bytes(self.SIZE, 3)
        self.run_backup(data)
        self.assertEqual(self.SIZE, sum(charged))

    def test_unread_ranges_of_a_thin_volume_cost_nothing(self):
        # Ceph RBD: objects the image never allocated are not read, so they
        # are not charged; what is read is charged on the native workers.
        self.flags(backup_read_bytes_per_second=units.Gi,
                   backup_allocation_samples=0)
        charged = self.count_charges()
        size = 48 * fake_rbd.OBJECT_SIZE
        data = bytearray(size)
        data[:fake_rbd.OBJECT_SIZE] = base.random_bytes(
            fake_rbd.OBJECT_SIZE, 4)
        image = fake_rbd.FakeImage(bytes(data))
        backup = self.create_backup_record()
        self.make_driver().backup(backup, cinder_utils.tpool_wrap(
            fake_rbd.wrapper(image)))
        self.assertEqual(fake_rbd.OBJECT_SIZE, image.bytes_read)
        self.assertEqual(image.bytes_read, sum(charged))

    def test_holes_of_a_volume_file_cost_nothing(self):
        # A sparse regular file: its holes are not read, and not charged.
        self.flags(backup_read_bytes_per_second=units.Gi)
        charged = self.count_charges()
        path = self.new_target(self.SIZE, name='sparse.img')
        with open(path, 'r+b') as f:
            f.write(base.random_bytes(base.OBJECT_SIZE, 11))
        backup = self.run_backup(path)
        self.assertLessEqual(sum(charged), 4 * base.OBJECT_SIZE)
        self.assertGreaterEqual(sum(charged), base.OBJECT_SIZE)
        with open(path, 'rb') as f:
            self.assertRestores(backup, f.read())

    def test_the_host_limit_is_shared_by_operations(self):
        # Each backup fits in a second of the rate, so a bucket of its own
        # would never make it wait; one bucket for both makes the two take
        # their bytes over the rate, less the one burst.
        self.flags(backup_host_bytes_per_second=self.RATE)
        start = time.monotonic()
        self.run_backup(base.random_bytes(self.RATE, 5))
        self.run_backup(base.random_bytes(self.RATE, 6))
        elapsed = time.monotonic() - start
        self.assertGreaterEqual(elapsed, SLACK * self.RATE / self.RATE)

    def test_concurrent_green_threads_share_the_host_limit(self):
        # Two operations' threads charging the host's bucket at once, each
        # waiting (green) for what it is told: together, not each, they
        # keep to the rate.  (Two backups at once through the driver need
        # a database the test's SQLite cannot share between them.)
        import eventlet
        self.flags(backup_host_bytes_per_second=self.RATE)
        piece = 64 * units.Ki

        def operation():
            for _ in range(self.RATE // piece):
                throttle.charge([throttle.host_bucket()], piece)
        start = time.monotonic()
        threads = [eventlet.spawn(operation) for _ in range(2)]
        for thread in threads:
            thread.wait()
        elapsed = time.monotonic() - start
        # 2 x RATE bytes, the first RATE of them a burst.
        self.assertGreaterEqual(elapsed, SLACK * self.RATE / self.RATE)

    # --- restores ----------------------------------------------------------

    def test_a_restore_takes_at_least_its_bytes_over_the_rate(self):
        data = base.random_bytes(self.SIZE, 9)
        backup = self.run_backup(data)
        self.flags(backup_read_bytes_per_second=self.RATE)
        path = self.new_target(self.SIZE)
        elapsed, _ = self.timed(self.run_restore, backup, path, True)
        self.assertGreaterEqual(elapsed,
                                SLACK * (self.SIZE - self.RATE) / self.RATE)
        with open(path, 'rb') as f:
            self.assertEqual(data, f.read())

    def test_a_restore_of_a_cinder_format_backup_is_limited_too(self):
        from cinder.backup.drivers import posix as cinder_posix
        data = base.random_bytes(self.SIZE, 11)
        backup = self.run_backup(
            data, driver_class=cinder_posix.PosixBackupDriver)
        self.flags(backup_read_bytes_per_second=self.RATE)
        charged = self.count_charges()
        path = self.new_target(self.SIZE)
        elapsed, _ = self.timed(self.run_restore, backup, path, True)
        self.assertEqual(self.SIZE, sum(charged))
        self.assertGreaterEqual(elapsed,
                                SLACK * (self.SIZE - self.RATE) / self.RATE)
        with open(path, 'rb') as f:
            self.assertEqual(data, f.read())

    def test_zeros_cost_a_restore_nothing(self):
        # One object of data in a megabyte of zeros, at a rate the data
        # fits in: the zeros would cost 15 seconds if they were charged.
        data = bytearray(self.SIZE)
        data[:base.OBJECT_SIZE] = base.random_bytes(base.OBJECT_SIZE, 10)
        data = bytes(data)
        backup = self.run_backup(data)
        self.flags(backup_read_bytes_per_second=base.OBJECT_SIZE)
        waits = self.count_waits()
        charged = self.count_charges()
        # A new volume gets no zeros; an existing one has them zeroed,
        # which VolumeFile does by writing zeros to a plain file.
        want = base.sha256_bytes(data)
        self.assertEqual(want, self.restore_bytes(backup, self.SIZE, True))
        self.assertEqual(base.OBJECT_SIZE, sum(charged))
        self.assertEqual(want, self.restore_bytes(backup, self.SIZE, False))
        self.assertEqual(2 * base.OBJECT_SIZE, sum(charged))
        self.assertEqual([], waits)
