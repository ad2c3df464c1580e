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

"""backup_io_priority: the priority the threads reading a volume really
have, read back with ioprio_get on those threads during a backup."""

import errno
from unittest import mock

from eventlet import patcher
import testtools

from cinder import utils as cinder_utils

from cinder_backup_ext.runtime import concurrency
from cinder_backup_ext.volume import io_priority
from cinder_backup_ext.volume import throttle
from cinder_backup_ext.volume import volume_io
from tests.unit import driver_base as base
from tests.unit import fake_rbd

_native_threading = patcher.original('threading')

IDLE = io_priority.priority_for(io_priority.IDLE)
BEST_EFFORT = io_priority.priority_for(io_priority.BEST_EFFORT)


def on_fresh_thread(fn):
    """fn() on a new OS thread, so that no priority a test sets outlives
    it on a thread the process keeps."""
    result = []
    thread = _native_threading.Thread(target=lambda: result.append(fn()))
    thread.start()
    thread.join()
    return result[0]


def _usable():
    try:
        on_fresh_thread(lambda: io_priority.set_io_priority(IDLE))
    except OSError:
        return False
    return True


USABLE = _usable()
# What every thread of this process has before any test lowers one; new
# threads inherit it from the thread that starts them.
BASELINE = io_priority.get_io_priority() if USABLE else None


@testtools.skipUnless(USABLE, 'this system refuses ioprio_set')
class SystemCallTest(testtools.TestCase):

    def test_values(self):
        self.assertEqual(3 << 13, IDLE)
        self.assertEqual(2 << 13 | 7, BEST_EFFORT)
        self.assertIsNone(io_priority.priority_for(io_priority.NONE))

    def test_set_and_get_on_this_thread(self):
        def run():
            io_priority.set_io_priority(BEST_EFFORT)
            return io_priority.get_io_priority()
        self.assertEqual(BEST_EFFORT, on_fresh_thread(run))

    def test_lowered_puts_the_thread_priority_back(self):
        def run():
            # A priority of its own, not one inherited from the thread
            # that started it.
            io_priority.set_io_priority(BEST_EFFORT)
            before = io_priority.get_io_priority()
            with io_priority.lowered(IDLE):
                during = io_priority.get_io_priority()
            return before, during, io_priority.get_io_priority()
        before, during, after = on_fresh_thread(run)
        self.assertEqual((BEST_EFFORT, IDLE, BEST_EFFORT),
                         (before, during, after))


class RefusalTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.addCleanup(setattr, io_priority, '_failure', None)
        self.addCleanup(setattr, io_priority, '_reported', False)
        io_priority._failure = None
        io_priority._reported = False

    def test_a_refusal_is_remembered_and_logged_once(self):
        refused = OSError(errno.EPERM, 'ioprio_set: not permitted')
        with mock.patch.object(io_priority, 'set_io_priority',
                               side_effect=refused), \
                mock.patch.object(io_priority, 'LOG') as log:
            ran = []
            with io_priority.lowered(IDLE):
                ran.append(True)
            self.assertEqual([True], ran)
            self.assertFalse(io_priority.usable(IDLE))
            self.assertFalse(io_priority.usable(IDLE))
        self.assertEqual(1, log.warning.call_count)
        self.assertIs(refused, io_priority._failure)


class PriorityDuringBackupTest(base.DriverTestCase):

    def setUp(self):
        super().setUp()
        if not USABLE:
            self.skipTest('this system refuses ioprio_set')

    def priorities_of_image_reads(self):
        """Back a Ceph image up; the I/O priority of each thread that
        read one of its chunks, read there."""
        self.flags(backup_allocation_samples=0)
        image = fake_rbd.FakeImage(base.random_bytes(
            8 * fake_rbd.OBJECT_SIZE, 1))
        seen = []

        def on_read(_image, _offset):
            seen.append((concurrency.on_native_worker(),
                         io_priority.get_io_priority()))
        image.on_read = on_read
        backup = self.create_backup_record()
        self.make_driver().backup(backup, cinder_utils.tpool_wrap(
            fake_rbd.wrapper(image)))
        self.assertNotEqual([], seen)
        return seen

    def priorities_of_file_reads(self):
        """Back a file without a descriptor up through tpool.Proxy, as
        cinder-backup hands some volumes over: the I/O priority of each
        thread that read from it, read there."""
        seen = []

        def on_read(_file):
            seen.append(io_priority.get_io_priority())
        self.run_backup(base.random_bytes(8 * base.OBJECT_SIZE, 2),
                        wrap=lambda f: cinder_utils.tpool_wrap(
                            base.HookedFile(f, on_read=on_read)))
        self.assertNotEqual([], seen)
        return seen

    def test_idle_on_the_workers_that_read_an_image(self):
        self.flags(backup_io_priority='idle')
        seen = self.priorities_of_image_reads()
        self.assertEqual({(True, IDLE)}, set(seen))

    def test_best_effort_on_the_tpool_threads_that_read_a_file(self):
        self.flags(backup_io_priority='best-effort')
        self.assertEqual({BEST_EFFORT}, set(self.priorities_of_file_reads()))

    def test_none_leaves_the_threads_as_they_are(self):
        self.flags(backup_io_priority='none')
        default = BASELINE
        self.assertEqual({(True, default)},
                         set(self.priorities_of_image_reads()))
        self.assertEqual({default}, set(self.priorities_of_file_reads()))

    def test_the_shared_threads_get_their_priority_back(self):
        # tpool's threads serve the whole process: after an idle backup
        # they read (and write) at the priority they had.
        self.flags(backup_io_priority='idle')
        self.priorities_of_image_reads()
        self.priorities_of_file_reads()
        self.flags(backup_io_priority='none')
        default = BASELINE
        self.assertEqual({(True, default)},
                         set(self.priorities_of_image_reads()))
        self.assertEqual({default}, set(self.priorities_of_file_reads()))

    def test_writes_of_a_restore_are_left_alone(self):
        self.flags(backup_io_priority='idle')
        self.assertIs(volume_io.VolumeFile,
                      type(throttle.for_restore(object(), None)))

    def test_a_refused_priority_does_not_fail_the_backup(self):
        self.flags(backup_io_priority='idle')
        self.addCleanup(setattr, io_priority, '_failure', None)
        self.addCleanup(setattr, io_priority, '_reported', False)
        refused = OSError(errno.ENOSYS, 'ioprio_set: not implemented')
        with mock.patch.object(io_priority, 'set_io_priority',
                               side_effect=refused):
            data = base.random_bytes(4 * base.OBJECT_SIZE, 3)
            backup = self.run_backup(data)
        self.assertRestores(backup, data)
