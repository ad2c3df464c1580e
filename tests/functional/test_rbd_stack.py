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

"""Ceph RBD volumes through the openstack CLI, against a real Ceph.

Cinder's own RBD driver keeps the volumes in a single-node Ceph cluster;
cinder-backup reads and writes them through os-brick's RBD connector and
backs them up with NFSBackupDriver (stack.rbd_stack).  Data is written
into the images and checked by the sha256 of the images, with librbd and
the rbd command, behind Cinder's back.  Tempest's backup modules run
against the same stack.
"""

import contextlib
import os
import random
import time

import testtools

from tests.functional import stack_case
from tests.functional.stack import ceph
from tests.functional.stack import rbd_stack
from tests.functional import tempest_tests

MiB = stack_case.MiB
GiB = stack_case.GiB


class RBDStackTest(stack_case.StackCase, tempest_tests.TempestTests,
                   testtools.TestCase):

    @classmethod
    def make_stack(cls):
        return rbd_stack.RBDStack()

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        print('ceph: a single-node cluster started in %.1f s'
              % cls.stack.ceph.started_in)

    @contextlib.contextmanager
    def image(self, volume_id):
        rados, rbd = self.stack.rbd_module()
        with rados.Rados(conffile=self.stack.ceph.conf) as cluster:
            with cluster.open_ioctx(ceph.POOL) as ioctx:
                with rbd.Image(ioctx,
                               self.stack.image_name(volume_id)) as image:
                    yield image

    def write(self, volume_id, offset, data):
        with self.image(volume_id) as image:
            image.write(bytes(data), offset)

    def sha(self, volume_id):
        return self.stack.ceph.image_sha256(
            self.stack.image_name(volume_id))

    def allocated(self, volume_id):
        found = []

        def collect(offset, length, exists):
            if exists:
                found.append(length)
        with self.image(volume_id) as image:
            image.diff_iterate(0, image.size(), None, collect,
                               whole_object=True)
        return sum(found)

    def backup_log(self):
        with open(self.stack.backup_log_files()[0]) as f:
            return f.read()

    def test_backup_incremental_and_restores_of_rbd_volumes(self):
        volume_id = self.new_volume(size_gb=2)
        rng = random.Random(12)
        self.write(volume_id, 0, rng.randbytes(48 * MiB))
        self.write(volume_id, 512 * MiB,
                   b'text of a file in the guest. ' * (1 << 20))
        self.write(volume_id, 3 * GiB // 2, rng.randbytes(16 * MiB))
        first = self.sha(volume_id)
        full = self.backup(volume_id)
        # Only what the image allocated was read.
        self.assertIn('Backup %s: volume %s has allocated %d of %d bytes'
                      % (full['id'], volume_id, self.allocated(volume_id),
                         2 * GiB), self.backup_log())

        # About 1% changes, some of it back to zeros.
        self.write(volume_id, 8 * MiB, rng.randbytes(16 * MiB))
        self.write(volume_id, 0, bytes(4 * MiB))
        self.write(volume_id, GiB, rng.randbytes(4 * MiB))
        second = self.sha(volume_id)
        incremental = self.backup(volume_id, '--incremental')
        self.assertTrue(incremental['is_incremental'])

        restored = self.restore_to_new_volume(full['id'])
        self.assertEqual(first, self.sha(restored))

        # Onto the original, changed since: every byte as it was.
        self.write(volume_id, 0, rng.randbytes(64 * MiB))
        self.write(volume_id, GiB + 100 * MiB, rng.randbytes(MiB))
        self.cli.openstack('volume', 'backup', 'restore', '--force',
                           incremental['id'], volume_id)
        self.cli.wait_for_status('volume backup', incremental['id'],
                                 'available')
        self.cli.wait_for_status('volume', volume_id, 'available')
        self.assertEqual(second, self.sha(volume_id))

        self.delete_backup(incremental['id'])
        self.delete_backup(full['id'])
        self.assertEqual([], self.files_of(full['id']))

    def test_restore_of_a_thin_backup_to_a_new_volume_writes_only_data(self):
        volume_id = self.new_volume(size_gb=1)
        self.write(volume_id, 200 * MiB, os.urandom(8 * MiB))
        backup = self.backup(volume_id)
        restored = self.restore_to_new_volume(backup['id'])
        self.assertEqual(self.sha(volume_id), self.sha(restored))
        # A new image is born zeroed: the restore allocated no more than
        # the data (whole 4 MiB objects).
        self.assertLessEqual(self.allocated(restored),
                             self.allocated(volume_id))

    def test_an_image_shrunk_during_its_backup_fails_it(self):
        volume_id = self.new_volume(size_gb=2)
        rng = random.Random(21)
        # Random data is stored as it is read: a backup that lasts long
        # enough to shrink the image under it.
        for offset in range(0, 1536 * MiB, 64 * MiB):
            self.write(volume_id, offset, rng.randbytes(64 * MiB))
        backup_id = self.cli.create_backup(volume_id,
                                           self.getUniqueString('backup'))
        self.addCleanup(self._delete_quietly, 'volume backup', backup_id)
        self.wait_for_log('Backup %s: volume %s has allocated'
                          % (backup_id, volume_id))
        self.stack.ceph.rbd('resize', '--allow-shrink', '--size', '64M',
                            self.stack.image_name(volume_id))
        shown = self.cli.wait_for_status('volume backup', backup_id, 'error',
                                         timeout=300, failed=())
        self.assertIn(volume_id, shown['fail_reason'])
        self.assertIn('changed during the backup', shown['fail_reason'])
        self.assertEqual([], self.files_of(backup_id))
        print('image shrunk during a backup: %s' % shown['fail_reason'])

    def wait_for_log(self, text, timeout=120):
        deadline = time.monotonic() + timeout
        while text not in self.backup_log():
            if time.monotonic() > deadline:
                self.fail('cinder-backup did not log %r in %d s'
                          % (text, timeout))
            time.sleep(0.1)
