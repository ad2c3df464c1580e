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

"""Cinder 1.0.0 backups: overlay of a chain, verification, deletion.

Backups here are written in Cinder's format by hand into an in-memory store;
tests/unit/test_driver_cinder_compat.py restores real ones written by
Cinder's own driver.
"""

import hashlib
import json
import zlib

import testtools

from cinder_backup_ext import exception
from cinder_backup_ext.repository import legacy
from cinder_backup_ext.runtime import concurrency
from cinder_backup_ext.storage import memory


class FakeBackup(object):
    def __init__(self, backup_id, prefix, parent_id=None):
        self.id = backup_id
        self.container = 'aa/bb/' + backup_id
        self.service_metadata = prefix
        self.parent_id = parent_id


class Target(object):
    """A volume file that records every write."""

    def __init__(self, size):
        self.data = bytearray(size)
        self.writes = []
        self.position = 0

    def seek(self, offset):
        self.position = offset

    def write(self, data):
        self.data[self.position:self.position + len(data)] = data
        self.writes.append((self.position, len(data)))
        self.position += len(data)

    def flush(self):
        pass


def _store_backup(store, backup, extents, md5=None):
    """md5(name, data) -> the value to record, or the key is left out
    when it returns None; by default what Cinder writes."""
    objects = []
    for number, (offset, data) in enumerate(extents, 1):
        name = '%s-%05d' % (backup.service_metadata, number)
        store.put_object(backup.container, name, zlib.compress(data))
        info = {'offset': offset, 'length': len(data),
                'compression': 'zlib'}
        value = (md5(name, data) if md5 else
                 hashlib.md5(data).hexdigest())
        if value is not None:
            info['md5'] = value
        objects.append({name: info})
    metadata = {'version': '1.0.0', 'backup_id': backup.id,
                'objects': objects, 'volume_meta': None}
    store.put_object(backup.container, legacy.metadata_name(
        backup.service_metadata), json.dumps(metadata).encode())


class IntervalTest(testtools.TestCase):
    def test_subtract(self):
        self.assertEqual([(0, 10), (20, 30)],
                         legacy._subtract([(10, 20)], 0, 30))
        self.assertEqual([], legacy._subtract([(0, 50)], 10, 20))
        self.assertEqual([(5, 10)], legacy._subtract([(0, 5)], 0, 10))

    def test_add_merges(self):
        self.assertEqual([(0, 30)], legacy._add([(0, 10), (20, 30)], 10, 20))


class LegacyRestoreTest(testtools.TestCase):
    def setUp(self):
        super().setUp()
        self.store = memory.MemoryStore()
        self.full = FakeBackup('full', 'volume_v_1_backup_full')
        self.incr = FakeBackup('incr', 'volume_v_2_backup_incr', 'full')
        _store_backup(self.store, self.full,
                      [(0, b'A' * 100), (100, b'B' * 100)])
        _store_backup(self.store, self.incr, [(50, b'C' * 100)])
        self.reader = legacy.LegacyBackups(self.store,
                                           concurrency.NativeWorkers(1), 1)

    def test_chain_overlays_newest_first_and_writes_each_byte_once(self):
        target = Target(200)
        self.reader.restore([self.incr, self.full], target, False)
        self.assertEqual(b'A' * 50 + b'C' * 100 + b'B' * 50,
                         bytes(target.data))
        covered = bytearray(200)
        for offset, length in target.writes:
            for position in range(offset, offset + length):
                covered[position] += 1
        self.assertEqual({1}, set(covered))

    def test_damaged_object_is_named(self):
        name = 'volume_v_1_backup_full-00002'
        self.store.put_object(self.full.container, name,
                              zlib.compress(b'X' * 100))
        error = self.assertRaises(exception.BackupCorrupted,
                                  self.reader.restore, [self.full],
                                  Target(200), True)
        self.assertIn(name, str(error))
        self.assertIn('md5', str(error))

    def test_delete_removes_only_that_backup(self):
        self.store.put_object(self.full.container, 'unrelated', b'.')
        self.reader.delete(self.full)
        self.assertEqual(['unrelated'],
                         self.store.list_objects(self.full.container))

    def _restore_with_md5(self, md5):
        backup = FakeBackup('odd', 'volume_v_3_backup_odd')
        _store_backup(self.store, backup, [(0, b'D' * 100), (100, b'E' * 100)],
                      md5)
        target = Target(200)
        error = self.assertRaises(exception.BackupCorrupted,
                                  self.reader.restore, [backup], target, True)
        self.assertEqual([], target.writes)
        return str(error)

    def test_object_without_md5_is_refused(self):
        # Cinder always records one: a listing without it was not written
        # by Cinder and must not be restored unchecked.
        name = 'volume_v_3_backup_odd-00002'
        message = self._restore_with_md5(
            lambda n, d: None if n == name else hashlib.md5(d).hexdigest())
        self.assertIn(name, message)
        self.assertIn('md5', message)
        self.assertIn('odd', message)

    def test_malformed_md5_is_refused(self):
        for value in ('', 'ABC', 'x' * 32, 7):
            message = self._restore_with_md5(lambda n, d: value)
            self.assertIn('md5', message)
