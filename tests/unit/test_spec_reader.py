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

"""The standalone reader of tests/format/spec_reader.py, written from
doc/source/format.rst alone, restores what the library writes.

Backups of every kind are made by the real PosixBackupDriver (and Cinder's
own driver for format 1.0.0); the reader gets only what the specification
says comes from the database and the key manager, and must reproduce the
source volume byte for byte.  Where it cannot, the specification is
incomplete or the library does not do what it says.
"""

import base64
import json
import os
import random
import subprocess
import sys

import blake3
from cinder.backup.drivers import posix as cinder_posix
from cinder import objects
import fixtures
import testtools

from cinder_backup_ext.engine import backup_job
from cinder_backup_ext import exception
from cinder_backup_ext.repository import canonical_json
from cinder_backup_ext.repository import records as ext_records
from cinder_backup_ext.sealing import keys
from tests.format import fixtures as golden
from tests.format import spec_reader
from tests.unit import driver_base as base
from tests.unit import test_manifest

OBJ = base.OBJECT_SIZE
BLK = base.BLOCK_SIZE
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def edit(data, offset, new):
    return data[:offset] + new + data[offset + len(new):]


def mixed_volume(seed, objects=6, tail=0):
    """Compressible, random and zero blocks in every object."""
    rng = random.Random(seed)
    blocks = []
    for _ in range(objects * OBJ // BLK):
        kind = rng.randrange(3)
        if kind == 0:
            blocks.append(bytes(BLK))
        elif kind == 1:
            blocks.append(base.compressible_bytes(BLK, rng.random()))
        else:
            blocks.append(rng.randbytes(BLK))
    return b''.join(blocks) + base.compressible_bytes(tail, seed)


class StandaloneTest(testtools.TestCase):

    def test_imports_nothing_of_the_library(self):
        code = ('import sys; import tests.format.spec_reader; '
                'print([m for m in sys.modules '
                'if m.startswith("cinder")])')
        out = subprocess.run([sys.executable, '-c', code], cwd=ROOT,
                             check=True, capture_output=True, text=True)
        self.assertEqual('[]', out.stdout.strip())

    def test_canonical_json_vectors(self):
        for document, expected in test_manifest.CANONICAL_VECTORS:
            self.assertEqual(expected, spec_reader.canonical(document))

    def test_canonical_json_agrees_with_the_library(self):
        rng = random.Random(7)
        alphabet = ([chr(c) for c in range(0, 0x80)] +
                    ['\u00e9', '\u0800', '\u2028', '\ufeff', '\uffff',
                     '\U00010000', '\U0001f600', '\U0010ffff'])
        for _ in range(200):
            text = ''.join(rng.choice(alphabet)
                           for _ in range(rng.randrange(40)))
            document = {text: [text, rng.randrange(-2 ** 70, 2 ** 70)],
                        'volume_meta': text, 'n': None, 't': True}
            self.assertEqual(canonical_json.encode(document),
                             spec_reader.canonical(document))

    def test_golden_repositories(self):
        test_keys = golden.load_test_keys()
        target = os.path.join(self.useFixture(fixtures.TempDir()).path,
                              'volume')
        for name in golden.REPOSITORIES:
            for record in golden.backups(name):
                chain = [spec_reader.Member.from_record(
                    r['id'], r['container'], r['service_metadata'],
                    test_keys)
                    for r in golden.chain_of(name, record['id'])]
                meta = spec_reader.restore(
                    os.path.join(golden.GOLDEN, name), chain, target)
                self.assertEqual(record['size'], os.path.getsize(target))
                self.assertEqual(record['sha256'], base.sha256_file(target),
                                 '%s %s' % (name, record['id']))
                self.assertIn('golden volume', meta)


class SpecReaderCase(base.DriverTestCase):
    """Backups made by the library, handed to the spec reader with what
    the database and key manager know."""

    def key_bytes(self, backup):
        key_id = ext_records.key_id(self.reload(backup))
        if key_id is None:
            return {}
        return {key_id: keys._manager().get(self.ctxt,
                                            key_id).get_encoded()}

    def chain(self, backup):
        """What the database and key manager say, newest first."""
        members = []
        record = self.reload(backup)
        while True:
            members.append(spec_reader.Member.from_record(
                record.id, record.container, record.service_metadata,
                self.key_bytes(record)))
            if not record.parent_id:
                return members
            record = objects.Backup.get_by_id(self.ctxt, record.parent_id)

    def spec_restore(self, backup):
        target = os.path.join(self.work, 'spec-%s.img' % backup.id)
        meta = spec_reader.restore(self.repo, self.chain(backup), target)
        with open(target, 'rb') as f:
            return f.read(), meta

    def assertSpecRestores(self, backup, expected):
        got, _meta = self.spec_restore(backup)
        self.assertEqual(len(expected), len(got))
        self.assertEqual(base.sha256_bytes(expected), base.sha256_bytes(got),
                         'spec reader restored other bytes for %s'
                         % backup.id)

    def backup_chain(self, states, encrypted=None, driver_class=None):
        """Back up each state as an incremental of the previous one;
        encrypted[i] says whether backup i is encrypted."""
        made = []
        parent = None
        for step, state in enumerate(states):
            if encrypted is not None:
                self.flags(backup_encryption_enabled=encrypted[step])
            parent = self.run_backup(state, parent=parent,
                                     driver_class=driver_class)
            made.append((parent, state))
        return made

    def assertChainRestores(self, made):
        for backup, state in made:
            self.assertSpecRestores(backup, state)

    def chain_states(self, seed, objects=6, tail=0):
        v0 = mixed_volume(seed, objects, tail)
        v1 = edit(v0, 2 * BLK, base.random_bytes(3 * BLK, seed + 1))
        v1 = edit(v1, OBJ + 5 * BLK, bytes(2 * BLK))
        v2 = edit(v1, 3 * OBJ, base.compressible_bytes(OBJ + BLK, seed + 2))
        return [v0, v1, v2]

    def manifest_of(self, backup):
        with open(os.path.join(self.backup_dir(backup),
                               'manifest.json')) as f:
            return json.load(f)

    def spec_index(self, backup, number):
        """The plaintext of a plain backup's segment index."""
        document = self.manifest_of(backup)
        codec, size, _stored, _digest = document['segments'][number][3:]
        with open(os.path.join(self.backup_dir(backup), 'index',
                               '%08d' % number), 'rb') as f:
            return spec_reader.decompress(codec, f.read(), size)


class FreshBackupTest(SpecReaderCase):
    """Backups of every kind made now, restored by the spec reader."""

    def test_every_codec(self):
        data = mixed_volume(1, objects=5, tail=777)
        for codec in base.COMPRESSIONS:
            self.flags(backup_compression_algorithm=codec)
            backup = self.run_backup(data)
            self.assertSpecRestores(backup, data)
            codecs = {entry[2] for entry in json.loads(
                self.spec_index(backup, 0))['objects']}
            self.assertIn(codec, codecs)

    def test_zero_blocks_and_a_short_last_block(self):
        data = (bytes(OBJ) + base.compressible_bytes(OBJ + 100, 2) +
                bytes(3 * BLK) + b'\x01' + bytes(BLK - 2) + b'\x02' +
                base.random_bytes(1234, 3))
        backup = self.run_backup(data)
        self.assertSpecRestores(backup, data)
        nothing_but_zeros = bytes(2 * OBJ + 1000)
        self.assertSpecRestores(self.run_backup(nothing_but_zeros),
                                nothing_but_zeros)

    def test_encrypted(self):
        self.flags(backup_encryption_enabled=True)
        data = mixed_volume(4, tail=100)
        backup = self.run_backup(data)
        self.assertIsNotNone(ext_records.key_id(self.reload(backup)))
        got, meta = self.spec_restore(backup)
        self.assertEqual(base.sha256_bytes(data), base.sha256_bytes(got))
        self.assertIn('volume-base-metadata', meta)

    def test_plain_chain(self):
        self.assertChainRestores(self.backup_chain(self.chain_states(5)))

    def test_encrypted_chain(self):
        self.assertChainRestores(self.backup_chain(
            self.chain_states(6), [True, True, True]))

    def test_plain_incremental_of_an_encrypted_backup(self):
        made = self.backup_chain(self.chain_states(7), [True, False, False])
        self.assertChainRestores(made)
        # The plain members' fingerprints are keyed with the full's key:
        # the reader needs an ancestor's key for a plain backup.
        for backup, _state in made[1:]:
            self.assertEqual(made[0][0].id,
                             self.manifest_of(backup)['fingerprint_key'])

    def test_encrypted_incremental_of_a_plain_backup(self):
        made = self.backup_chain(self.chain_states(8), [False, True, False])
        self.assertChainRestores(made)
        self.assertIsNone(self.manifest_of(made[0][0])['fingerprint_key'])

    def test_several_segments(self):
        self.mock_object(backup_job, 'OBJECTS_PER_SEGMENT', 2)
        made = self.backup_chain(self.chain_states(9, objects=7, tail=5))
        self.assertEqual(4, len(self.manifest_of(made[-1][0])['segments']))
        self.assertChainRestores(made)

    def test_volume_grows_between_backups(self):
        v0 = mixed_volume(10, objects=3, tail=10)
        v1 = v0 + base.compressible_bytes(OBJ + 3000, 11)
        self.assertChainRestores(self.backup_chain([v0, v1]))

    def test_cinder_chain(self):
        self.flags(backup_compression_algorithm='zlib')
        made = self.backup_chain(self.chain_states(12),
                                 driver_class=cinder_posix.PosixBackupDriver)
        self.assertFalse(ext_records.is_ours(made[0][0]))
        self.assertChainRestores(made)

    def test_cinder_backups_with_every_codec(self):
        data = mixed_volume(13, objects=4, tail=99)
        for codec in base.COMPRESSIONS:
            self.flags(backup_compression_algorithm=codec)
            backup = self.run_backup(
                data, driver_class=cinder_posix.PosixBackupDriver)
            self.assertSpecRestores(backup, data)


class RefusalTest(SpecReaderCase):
    """The spec reader fails where the specification says a reader must.

    Each damage is made consistently (checksums and digests recomputed), so
    that only the check under test can catch it.
    """

    def setUp(self):
        super().setUp()
        self.data = mixed_volume(20, objects=4, tail=50)

    def rewrite_document(self, path, change, key=None):
        """Change a stored document and seal its checksum (and MAC) again
        as a forger who knows the format would."""
        with open(path, 'rb') as f:
            document = json.loads(f.read())
        change(document)
        document.pop('checksum', None)
        if key is not None:
            document.pop('mac', None)
            document['mac'] = blake3.blake3(
                spec_reader.canonical(document),
                key=spec_reader.derive(key, 'manifest')).hexdigest()
        document['checksum'] = blake3.blake3(
            spec_reader.canonical(document)).hexdigest()
        with open(path, 'wb') as f:
            f.write(spec_reader.canonical(document) + b'\n')

    def replace_index(self, backup, change):
        """Rewrite segment index 0 of a plain backup, stored as codec
        'none', and its manifest entry."""
        directory = self.backup_dir(backup)
        document = json.loads(self.spec_index(backup, 0))
        change(document)
        document.pop('checksum')
        document['checksum'] = blake3.blake3(
            spec_reader.canonical(document)).hexdigest()
        data = spec_reader.canonical(document) + b'\n'
        with open(os.path.join(directory, 'index', '00000000'), 'wb') as f:
            f.write(data)

        def entry(manifest_document):
            manifest_document['segments'][0][3:] = [
                'none', len(data), len(data),
                blake3.blake3(data).hexdigest()]
        self.rewrite_document(os.path.join(directory, 'manifest.json'),
                              entry)

    def assertRefused(self, backup, *words):
        error = self.assertRaises(spec_reader.FormatError,
                                  self.spec_restore, backup)
        for word in words:
            self.assertIn(word, str(error))
        return error

    def assertDriverRefuses(self, backup):
        """The library's restore refuses the same damage."""
        for volume_is_new in (True, False):
            error = self.assertRaises(
                exception.BackupCorrupted, self.restore_bytes, backup,
                len(self.data), volume_is_new)
            self.assertIn(backup.id, str(error))

    def test_extent_pointing_at_other_bytes_of_its_object(self):
        # Every object verifies; the bytes land in the wrong place.
        backup = self.run_backup(self.data)

        def shift(document):
            sizes = [item[3] for item in document['objects']]
            for extent in document['extents']:
                _start, length, which, object_offset = extent
                if which >= 0 and sizes[which] >= length + BLK:
                    if object_offset + BLK + length <= sizes[which]:
                        extent[3] += BLK
                    else:
                        extent[3] -= BLK
                    return
            self.fail('no extent to shift')
        self.replace_index(backup, shift)
        self.assertRefused(backup, 'fingerprint', 'offset', 'data/00000/')
        self.assertDriverRefuses(backup)

    def test_fingerprint_changed(self):
        backup = self.run_backup(self.data)

        def damage(document):
            prints = bytearray(base64.b64decode(document['fingerprints']))
            prints[5 * 32] ^= 1
            document['fingerprints'] = base64.b64encode(
                bytes(prints)).decode()
        self.replace_index(backup, damage)
        self.assertRefused(backup, 'fingerprint', 'offset %d' % (5 * BLK))
        self.assertDriverRefuses(backup)

    def test_zero_extent_over_data(self):
        backup = self.run_backup(self.data)

        def zero_first_data_extent(document):
            for extent in document['extents']:
                if extent[2] >= 0:
                    extent[2:] = [-1, 0]
                    return
        self.replace_index(backup, zero_first_data_extent)
        self.assertRefused(backup, 'fingerprint')
        self.assertDriverRefuses(backup)

    def test_forged_encrypted_manifest(self):
        self.flags(backup_encryption_enabled=True)
        backup = self.run_backup(self.data)
        path = os.path.join(self.backup_dir(backup), 'manifest.json')
        self.rewrite_document(
            path, lambda d: d['stats'].__setitem__('objects', 99))
        self.assertRefused(backup, 'MAC')

    def test_encrypted_manifest_rewritten_as_plain(self):
        self.flags(backup_encryption_enabled=True)
        backup = self.run_backup(self.data)
        path = os.path.join(self.backup_dir(backup), 'manifest.json')

        def plain(document):
            document.pop('mac')
            document['encryption'] = None
            document['sealed_volume_meta'] = None
        self.rewrite_document(path, plain)
        self.assertRefused(backup, 'database')

    def test_chain_differs_from_the_database(self):
        full = self.run_backup(self.data)
        incremental = self.run_backup(edit(self.data, 0, b'x'), parent=full)
        path = os.path.join(self.backup_dir(incremental), 'manifest.json')
        self.rewrite_document(path, lambda d: d.__setitem__(
            'chain', [incremental.id]))
        self.assertRefused(incremental, 'chain')

    def test_repeated_key(self):
        backup = self.run_backup(self.data)
        path = os.path.join(self.backup_dir(backup), 'manifest.json')
        with open(path, 'rb') as f:
            data = f.read()
        with open(path, 'wb') as f:
            f.write(data.replace(b'{"backup_id"', b'{"size":1,"backup_id"'))
        self.assertRefused(backup, 'twice')

    def test_cinder_object_without_md5(self):
        backup = self.run_backup(
            self.data, driver_class=cinder_posix.PosixBackupDriver)
        name = backup.service_metadata + '_metadata'
        path = os.path.join(self.repo, backup.container, name)
        with open(path) as f:
            metadata = json.load(f)
        (info,) = metadata['objects'][1].values()
        del info['md5']
        with open(path, 'w') as f:
            json.dump(metadata, f)
        self.assertRefused(backup, 'md5')
