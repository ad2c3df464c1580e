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

"""How the golden repositories in golden/ were made.

    .venv/bin/python -m tests.format.make_golden OUTPUT_DIRECTORY

writes three repositories and their facts into OUTPUT_DIRECTORY (which
must not exist yet), through the real drivers on Cinder's unit-test
database, as the driver tests do:

plain-zstd
    PosixBackupDriver, zstd: a full backup and an incremental of it.
encrypted-TEST-ONLY-key
    PosixBackupDriver with backup_encryption_enabled: the same two volumes,
    each backup with a fixed, published test key (golden/TEST-ONLY-keys.json).
cinder-1.0.0
    Cinder's own cinder.backup.drivers.posix.PosixBackupDriver, zlib: a full
    backup and an incremental, format 1.0.0.

The volumes are 5 objects of 64 KiB plus 1000 bytes (4 KiB blocks), with
text, zero and random blocks, so that the backups have several data
objects, gaps in object numbers, zero extents, extents in both members of
the chain and a short last block.  Segments hold 4 objects here instead of
the library's 1024, so that the backups have two segment indexes.

The output is deterministic for given library versions: IDs, volume IDs and
the clock are fixed, one native thread seals objects in order, and the
AES-GCM nonces of the encrypted repository come from a seeded generator
(unique, as GCM needs; predictable, which only a test key can afford).
Cinder's driver and the compressors may produce other bytes in other
versions: that does not matter, since the committed files are what the
tests read.

The committed golden files are never regenerated: they are what a released
version wrote, and every later version must restore them byte for byte.
Write new ones into a new directory next to them if the format gains
something worth pinning.
"""

import argparse
import datetime
import json
import os
import random
import shutil
import sys
import types
import unittest

from oslo_utils import timeutils

from cinder.backup.drivers import posix as cinder_posix
from cinder.objects import fields

from cinder_backup_ext.engine import backup_job
from cinder_backup_ext.sealing import crypto
from cinder_backup_ext.sealing import keys
from tests.format import fixtures
from tests.format import records
from tests.unit import driver_base as base

OBJ = base.OBJECT_SIZE
BLK = base.BLOCK_SIZE
TAIL = 1000
CLOCK = datetime.datetime(2026, 1, 2, 3, 4, 5)
VOLUME_ID = '0a0a0a0a-0000-4000-8000-00000000000a'
VOLUME_TYPE_ID = '0a0a0a0a-0000-4000-8000-0000000000a0'
# Fixed, published, and good for nothing but these tests.
TEST_KEYS = {
    'TEST-ONLY-golden-key-1':
        bytes(range(32)),
    'TEST-ONLY-golden-key-2':
        bytes(range(32, 64)),
}
IDS = {
    fixtures.PLAIN: ['0a0a0a0a-0000-4000-8000-000000000001',
                     '0a0a0a0a-0000-4000-8000-000000000002'],
    fixtures.ENCRYPTED: ['0a0a0a0a-0000-4000-8000-000000000003',
                         '0a0a0a0a-0000-4000-8000-000000000004'],
    fixtures.CINDER: ['0a0a0a0a-0000-4000-8000-000000000005',
                      '0a0a0a0a-0000-4000-8000-000000000006'],
}


def text(size, seed):
    """Compressible, varied lines."""
    lines = b''.join(b'golden %d line %06d: cinder-backup-ext format\n'
                     % (seed, i) for i in range(size // 40 + 1))
    return lines[:size]


def edit(data, offset, new):
    return data[:offset] + new + data[offset + len(new):]


def volumes():
    """The volume at the full backup and at the incremental."""
    full = b''.join([
        text(OBJ, 0),
        bytes(OBJ),
        text(4 * BLK, 1) + bytes(2 * BLK) + base.random_bytes(BLK, 2) +
        text(BLK, 3) + bytes(8 * BLK),
        text(OBJ, 4),
        bytes(7 * BLK) + base.random_bytes(BLK, 5) + bytes(8 * BLK),
        text(TAIL, 6),
    ])
    incremental = edit(full, 3 * BLK, text(BLK, 7))           # data, new
    incremental = edit(incremental, OBJ + 5 * BLK, text(BLK, 8))  # zero->data
    incremental = edit(incremental, 2 * OBJ + BLK, bytes(BLK))    # data->zero
    incremental = edit(incremental, 2 * OBJ + 10 * BLK, text(BLK, 9))
    return [full, incremental]


class GoldenWriter(base.DriverTestCase):
    """Writes one golden repository per test into OUTPUT."""

    OUTPUT = None

    def setUp(self):
        super().setUp()
        self.mock_object(timeutils, 'utcnow', return_value=CLOCK)
        # One native thread seals the objects in order, so that the
        # seeded nonces land on the same objects every time.
        self.flags(backup_native_threads=1, backup_pipeline_depth=1)
        # Fixed IDs, so that the volume metadata in the backups is too.
        self.volume = records.create_volume(
            self.ctxt, records.create_volume_type(self.ctxt, VOLUME_TYPE_ID),
            VOLUME_ID)
        # Two segments of four objects each, so that the golden backups
        # pin reading more than one segment (the library writes 1024
        # objects per segment: 64 MiB of these small objects).
        self.mock_object(backup_job, 'OBJECTS_PER_SEGMENT', 4)
        self._ids = []

    def create_backup_record(self, volume=None, parent=None, container=None,
                             status=fields.BackupStatus.CREATING):
        return records.create_backup(
            self.ctxt, self._ids.pop(0), (volume or self.volume).id,
            parent.id if parent else None, container, status=status)

    def _write(self, name, driver_class=None, container=None):
        self._ids = list(IDS[name])
        records = []
        parent = None
        for data in volumes():
            parent = self.run_backup(data, parent=parent, container=container,
                                     driver_class=driver_class)
            records.append((parent, data))
        for backup, data in records:
            # What was written restores, before it is kept.
            self.assertRestores(backup, data)
        destination = os.path.join(self.OUTPUT, name)
        shutil.copytree(self.repo, destination)
        return {
            'backups': [{
                'id': backup.id,
                'parent_id': backup.parent_id,
                'container': backup.container,
                'service_metadata': backup.service_metadata,
                'size': len(data),
                'sha256': base.sha256_bytes(data),
            } for backup, data in records],
        }

    def _save(self, name, facts):
        with open(os.path.join(self.OUTPUT, name + '.json'), 'w') as f:
            json.dump(facts, f, indent=2, sort_keys=True)

    def test_plain(self):
        self.flags(backup_compression_algorithm='zstd')
        facts = self._write(fixtures.PLAIN, container='golden')
        facts.update(codec='zstd',
                     writer='cinder_backup_ext PosixBackupDriver')
        self._save(fixtures.PLAIN, facts)

    def test_encrypted(self):
        self.flags(backup_compression_algorithm='zstd',
                   backup_encryption_enabled=True)
        self.mock_object(keys, '_manager', return_value=(
            fixtures.FixedKeyManager(TEST_KEYS, sorted(TEST_KEYS))))
        nonces = random.Random('golden nonces')
        self.mock_object(crypto, 'os',
                         types.SimpleNamespace(urandom=nonces.randbytes))
        facts = self._write(fixtures.ENCRYPTED, container='golden')
        facts.update(codec='zstd', writer='cinder_backup_ext '
                     'PosixBackupDriver, encrypted with TEST-ONLY keys')
        self._save(fixtures.ENCRYPTED, facts)

    def test_cinder(self):
        self.flags(backup_compression_algorithm='zlib')
        facts = self._write(fixtures.CINDER,
                            driver_class=cinder_posix.PosixBackupDriver)
        facts.update(codec='zlib', writer='cinder.backup.drivers.posix '
                     'PosixBackupDriver (format 1.0.0)')
        self._save(fixtures.CINDER, facts)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('output', help='a directory that does not exist')
    output = os.path.abspath(parser.parse_args(argv).output)
    os.makedirs(output)
    GoldenWriter.OUTPUT = output
    suite = unittest.TestLoader().loadTestsFromTestCase(GoldenWriter)
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    if not result.wasSuccessful():
        return 1
    repositories = {}
    for name in fixtures.REPOSITORIES:
        path = os.path.join(output, name + '.json')
        with open(path) as f:
            repositories[name] = json.load(f)
        os.unlink(path)
    with open(os.path.join(output, 'golden.json'), 'w') as f:
        json.dump({'repositories': repositories}, f, indent=2,
                  sort_keys=True)
        f.write('\n')
    with open(os.path.join(output, 'TEST-ONLY-keys.json'), 'w') as f:
        json.dump({'warning': 'Published test keys: they protect nothing. '
                              'Never use them for real backups.',
                   'keys': {key_id: raw.hex()
                            for key_id, raw in TEST_KEYS.items()}},
                  f, indent=2, sort_keys=True)
        f.write('\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
