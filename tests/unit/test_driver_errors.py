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

"""Damaged repositories, hostile container names and bad configuration.

Each case must end in a Cinder exception an operator can act on: damage is
BackupCorrupted naming the backup and the object, a container that would
leave the repository is InvalidBackup, a configuration mistake names the
option.  A damaged backup is never restored as if it were fine.
"""

import base64
import hashlib
import json
import os
import shutil

from cinder import exception

from cinder_backup_ext import exception as ext_exception
from cinder_backup_ext.repository import canonical_json
from cinder_backup_ext.repository import layout
from cinder_backup_ext.repository import manifest
from cinder_backup_ext.sealing import sealing
from tests.unit import driver_base as base

OBJ = base.OBJECT_SIZE
BLK = base.BLOCK_SIZE


def flip_byte(path, offset=None):
    with open(path, 'r+b') as f:
        size = os.fstat(f.fileno()).st_size
        offset = size // 2 if offset is None else offset
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x01]))


def truncate_half(path):
    with open(path, 'r+b') as f:
        f.truncate(os.fstat(f.fileno()).st_size // 2)


def integers_in(node, path=()):
    """Every (path, value) of a non-boolean int inside decoded JSON."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from integers_in(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from integers_in(value, path + (i,))
    elif isinstance(node, int) and not isinstance(node, bool):
        yield path, node


def set_at(node, path, value):
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def write_document(path, document):
    """Store an edited manifest with its checksum recomputed, so that the
    edit reaches the check behind the checksum."""
    document['checksum'] = manifest._checksum(document)
    with open(path, 'wb') as f:
        f.write(canonical_json.encode(document, b'\n'))


class CorruptionTest(base.DriverTestCase):

    def setUp(self):
        super().setUp()
        # Incompressible data makes every stored byte matter; compressed
        # objects are covered by their own test below.
        self.flags(backup_compression_algorithm='none')
        self.data = b''.join([
            base.random_bytes(6 * OBJ, seed=70),
            bytes(2 * OBJ),
            base.random_bytes(4 * OBJ + 3 * BLK, seed=71)])

    def _backup(self, data=None, parent=None):
        return self.run_backup(self.data if data is None else data,
                               parent=parent)

    def _rel(self, backup, path):
        return os.path.relpath(path, self.backup_dir(backup))

    def assertCorruptionDetected(self, backup, object_name, owner=None):
        """Both kinds of restore fail naming the backup and the object.

        owner is the backup that holds the damaged object, when that is a
        parent of the backup being restored.
        """
        owner = owner or backup
        for volume_is_new in (True, False):
            error = self.assertRaises(
                ext_exception.BackupCorrupted, self.restore_bytes,
                backup, len(self.data), volume_is_new)
            self.assertIsInstance(error, exception.InvalidBackup)
            message = str(error)
            self.assertIn(owner.id, message)
            self.assertIn(object_name, message)

    def _middle_data_object(self, backup):
        objects = self.data_objects(backup)
        self.assertGreater(len(objects), 4)
        return objects[len(objects) // 2]

    def _index_objects(self, backup):
        index = os.path.join(self.backup_dir(backup), 'index')
        self.assertTrue(os.path.isdir(index), 'no index/ in the backup')
        found = [os.path.join(index, rel) for rel in base.tree_files(index)]
        self.assertNotEqual([], found)
        return found

    def _manifest(self, backup):
        path = os.path.join(self.backup_dir(backup), 'manifest.json')
        self.assertTrue(os.path.isfile(path), 'no manifest.json')
        return path

    def test_intact_backup_restores(self):
        # The control for every case below: without damage, no error.
        backup = self._backup()
        self.assertRestores(backup, self.data)

    def test_flipped_byte_in_data_object(self):
        backup = self._backup()
        path = self._middle_data_object(backup)
        flip_byte(path)
        self.assertCorruptionDetected(backup, self._rel(backup, path))

    def test_flipped_first_and_last_byte_of_data_objects(self):
        backup = self._backup()
        objects = self.data_objects(backup)
        for path, offset in ((objects[0], 0),
                             (objects[-1], os.path.getsize(objects[-1]) - 1)):
            saved = open(path, 'rb').read()
            flip_byte(path, offset)
            self.assertCorruptionDetected(backup, self._rel(backup, path))
            with open(path, 'wb') as f:
                f.write(saved)
        self.assertRestores(backup, self.data)

    def test_flipped_byte_in_compressed_object(self):
        for algorithm in ('zlib', 'bz2', 'zstd'):
            self.flags(backup_compression_algorithm=algorithm)
            self.data = base.compressible_bytes(8 * OBJ, seed=72)
            backup = self._backup()
            path = self._middle_data_object(backup)
            flip_byte(path)
            self.assertCorruptionDetected(backup, self._rel(backup, path))

    def test_truncated_data_object(self):
        backup = self._backup()
        path = self._middle_data_object(backup)
        truncate_half(path)
        self.assertCorruptionDetected(backup, self._rel(backup, path))

    def test_emptied_data_object(self):
        backup = self._backup()
        path = self._middle_data_object(backup)
        open(path, 'wb').close()
        self.assertCorruptionDetected(backup, self._rel(backup, path))

    def test_extended_data_object(self):
        backup = self._backup()
        path = self._middle_data_object(backup)
        with open(path, 'ab') as f:
            f.write(b'\0' * 17)
        self.assertCorruptionDetected(backup, self._rel(backup, path))

    def test_missing_data_object(self):
        backup = self._backup()
        path = self._middle_data_object(backup)
        os.unlink(path)
        self.assertCorruptionDetected(backup, self._rel(backup, path))

    def test_swapped_data_objects(self):
        # Each object intact on its own, but in the wrong place.
        backup = self._backup()
        objects = self.data_objects(backup)
        a, b = objects[1], objects[2]
        tmp = a + '.swap'
        os.rename(a, tmp)
        os.rename(b, a)
        os.rename(tmp, b)
        for volume_is_new in (True, False):
            self.assertRaises(ext_exception.BackupCorrupted,
                              self.restore_bytes, backup, len(self.data),
                              volume_is_new)

    def test_damaged_parent_object_fails_incremental_restore(self):
        full = self._backup()
        changed = bytearray(self.data)
        changed[OBJ:OBJ + BLK] = base.random_bytes(BLK, seed=73)
        incr = self._backup(bytes(changed), parent=full)
        path = self.data_objects(full)[-1]
        flip_byte(path)
        self.assertCorruptionDetected(incr, self._rel(full, path), owner=full)

    def test_corrupted_manifest(self):
        backup = self._backup()
        path = self._manifest(backup)
        with open(path, 'r+b') as f:
            f.write(b'\x00\xffnot json')
        self.assertCorruptionDetected(backup, 'manifest.json')

    def test_truncated_manifest(self):
        backup = self._backup()
        path = self._manifest(backup)
        truncate_half(path)
        self.assertCorruptionDetected(backup, 'manifest.json')

    def test_missing_manifest(self):
        backup = self._backup()
        os.unlink(self._manifest(backup))
        self.assertCorruptionDetected(backup, 'manifest.json')

    def test_flipped_byte_in_manifest(self):
        backup = self._backup()
        path = self._manifest(backup)
        flip_byte(path)
        for volume_is_new in (True, False):
            error = self.assertRaises(exception.InvalidBackup,
                                      self.restore_bytes, backup,
                                      len(self.data), volume_is_new)
            self.assertIn(backup.id, str(error))

    # Where a restore stops when a manifest number is changed by one and
    # the checksum recomputed: the reason the error must give, or None for
    # numbers a restore of a plain backup does not read.  object_size may
    # also be refused for naming the wrong size.
    MANIFEST_NUMBER_REASONS = {
        ('version',): 'format version 3 is not supported',
        ('size',): 'segments cover',
        ('segments', 0, 0): 'segment 1 out of order',
        ('segments', 0, 1): 'segment 0 starts at 1, expected 0',
        ('segments', 0, 2): 'segment 0 has a bad length',
        ('segments', 0, 4): 'expected %d',
        ('segments', 0, 5): 'stored size is',
        ('block_size',): 'index has blocks of 4096 bytes, the manifest 4097',
        ('object_size',): None,
    }

    def test_altered_manifest_numbers_never_restore_wrong_data(self):
        # Bit rot, or an edit, that keeps the JSON valid and its checksum
        # right: any number in the manifest changed by one must be caught
        # by the check named for it, or not matter.
        backup = self._backup()
        path = self._manifest(backup)
        with open(path, 'rb') as f:
            original = f.read()
        doc = json.loads(original)
        numbers = list(integers_in(doc))
        self.assertEqual(1, len(doc['segments']))
        want = base.sha256_bytes(self.data)
        for where, value in numbers:
            altered = json.loads(original)
            set_at(altered, where, value + 1)
            write_document(path, altered)
            reason = self.MANIFEST_NUMBER_REASONS.get(where)
            if reason is not None and '%d' in reason:
                reason %= value + 1
            for volume_is_new in (True, False):
                if reason is None and where[0] != 'stats':
                    try:
                        got = self.restore_bytes(backup, len(self.data),
                                                 volume_is_new)
                    except exception.InvalidBackup as error:
                        self.assertIn(where[-1], str(error))
                        continue
                elif reason is None:
                    got = self.restore_bytes(backup, len(self.data),
                                             volume_is_new)
                else:
                    error = self.assertRaises(
                        ext_exception.BackupCorrupted, self.restore_bytes,
                        backup, len(self.data), volume_is_new)
                    self.assertIn(reason, str(error), where)
                    self.assertIn(backup.id, str(error))
                    continue
                self.assertEqual(want, got, 'manifest field %s changed to '
                                 '%d restored wrong data' % (where, value + 1))
        with open(path, 'wb') as f:
            f.write(original)
        self.assertRestores(backup, self.data)

    def test_manifest_edited_without_its_checksum(self):
        # The control for the cases above and below: an edit that leaves
        # the checksum alone is caught by the checksum.
        backup = self._backup()
        path = self._manifest(backup)
        with open(path, 'rb') as f:
            document = json.load(f)
        document['stats']['new_bytes'] += 1
        with open(path, 'wb') as f:
            f.write(canonical_json.encode(document))
        error = self.assertRaises(ext_exception.BackupCorrupted,
                                  self.restore_bytes, backup, len(self.data),
                                  True)
        self.assertIn('checksum mismatch', str(error))
        self.assertIn('manifest.json', str(error))

    def test_manifest_field_checks(self):
        # Each edit keeps the document's checksum right, so the check named
        # for it is the one that must catch it.
        backup = self._backup()
        path = self._manifest(backup)
        with open(path, 'rb') as f:
            original = f.read()

        def chain_repeats(doc):
            doc['chain'] = doc['chain'] * 2

        def drop_segment(doc):
            doc['segments'] = []

        def short_segment_entry(doc):
            doc['segments'][0] = doc['segments'][0][:6]

        def unknown_codec(doc):
            doc['segments'][0][3] = 'lz4'

        def bad_digest(doc):
            doc['segments'][0][6] = 'ab' * 31

        def set_field(name, value):
            def edit(doc):
                doc[name] = value
            return edit

        cases = [
            (set_field('format', 'restic'), "format is 'restic'"),
            (set_field('backup_id', 'another-backup'),
             "manifest belongs to backup 'another-backup'"),
            (set_field('digest_algorithm', 'md5'),
             "unknown digest algorithm 'md5'"),
            (set_field('chain', ['another-backup']),
             'chain does not start with the backup'),
            (chain_repeats, 'chain repeats a backup'),
            (set_field('size', -1), 'size must be an integer'),
            (set_field('block_size', 0), 'block_size must be an integer'),
            (set_field('volume_meta', 7),
             'volume_meta must be a string or null'),
            (set_field('fingerprint_key', 'another-backup'),
             "fingerprint key owner 'another-backup' is not in the chain"),
            (set_field('sealed_volume_meta', 'AAAA'),
             'sealed_volume_meta belongs to encrypted backups only'),
            (drop_segment, 'segments cover 0 bytes'),
            (short_segment_entry, 'segment entry must be a list of 7'),
            (unknown_codec, "unknown codec 'lz4'"),
            (bad_digest, 'malformed digest'),
        ]
        for edit, reason in cases:
            document = json.loads(original)
            edit(document)
            write_document(path, document)
            error = self.assertRaises(ext_exception.BackupCorrupted,
                                      self.restore_bytes, backup,
                                      len(self.data), True)
            self.assertIn(reason, str(error))
            self.assertIn('manifest.json', str(error))
        with open(path, 'wb') as f:
            f.write(original)
        self.assertRestores(backup, self.data)

    def _edit_index(self, backup, edit):
        """Decode the backup's first segment index, edit it, and store it
        sealed again, its materials in a manifest with a right checksum:
        nothing but the edit is wrong."""
        manifest_path = self._manifest(backup)
        with open(manifest_path, 'rb') as f:
            document = json.load(f)
        entry = document['segments'][0]
        materials = sealing.Materials(*entry[3:7])
        path = os.path.join(self.backup_dir(backup),
                            layout.index_object_name(0))
        with open(path, 'rb') as f:
            index = json.loads(bytes(sealing.open_object(f.read(),
                                                         materials)))
        edit(index)
        index['checksum'] = manifest._checksum(index)
        stored, materials = sealing.seal_object(
            materials.codec, canonical_json.encode(index, b'\n'))
        with open(path, 'wb') as f:
            f.write(stored)
        entry[3:7] = list(materials)
        write_document(manifest_path, document)
        return layout.index_object_name(0)

    def test_index_field_checks(self):
        data_backup = self._backup()
        manifest_path = self._manifest(data_backup)
        index_path = os.path.join(self.backup_dir(data_backup),
                                  layout.index_object_name(0))
        saved = {}
        for p in (manifest_path, index_path):
            with open(p, 'rb') as f:
                saved[p] = f.read()

        def set_field(name, value):
            def edit(doc):
                doc[name] = value
            return edit

        def add_to(name, amount):
            def edit(doc):
                doc[name] += amount
            return edit

        def fingerprints(doc):
            raw = base64.b64decode(doc['fingerprints'])
            doc['fingerprints'] = base64.b64encode(raw[:-32]).decode()

        def not_base64(doc):
            doc['fingerprints'] = '!' + doc['fingerprints'][1:]

        def first_object(position, value):
            def edit(doc):
                doc['objects'][0][position] = value
            return edit

        def first_data_extent(position, value):
            def edit(doc):
                extent = [e for e in doc['extents'] if e[2] >= 0][0]
                extent[position] = value(extent)
            return edit

        def first_zero_extent_offset(doc):
            [e for e in doc['extents'] if e[2] == -1][0][3] = 4096

        def longer_last_extent(doc):
            doc['extents'][-1][1] += 1

        def later_second_extent(doc):
            doc['extents'][1][0] += 1

        def drop_last_extent(doc):
            doc['extents'].pop()

        def extent_of_strings(doc):
            doc['extents'][0][0] = str(doc['extents'][0][0])

        cases = [
            (set_field('format', 'restic'), "format is 'restic'"),
            (add_to('version', 1), 'format version 3 is not supported'),
            (set_field('backup_id', 'another-backup'),
             "index belongs to backup 'another-backup'"),
            (add_to('segment', 1), 'index is segment 1, expected 0'),
            (add_to('offset', 1), 'index covers [1, +'),
            (add_to('length', 1), 'the manifest says [0, +'),
            (set_field('fingerprint_algorithm', 'sha256'),
             "unknown fingerprint algorithm 'sha256'"),
            (not_base64, 'fingerprints are not valid base64'),
            (fingerprints, 'bytes of fingerprints for'),
            (lambda doc: doc.update(block_size=2 * doc['block_size']),
             'index has blocks of 8192 bytes, the manifest 4096'),
            (first_object(0, 1), 'object refers to chain position 1 of a '
                                 'chain of 1'),
            (first_object(1, -1), 'object number -1 out of range'),
            (first_object(2, 'lz4'), "unknown codec 'lz4'"),
            (first_object(5, 'not-hex'), "malformed digest 'not-hex'"),
            (set_field('objects', {}), 'objects must be a list'),
            (set_field('extents', {}), 'extents must be a list'),
            (extent_of_strings, 'extent must be a list of 4 integers'),
            (later_second_extent, 'leaves a gap or overlaps'),
            (longer_last_extent, 'leaves the segment'),
            (drop_last_extent, 'extents end at'),
            (first_zero_extent_offset, 'zero extent with an offset'),
            (first_data_extent(2, lambda e: 1000),
             'extent refers to object 1000 of'),
            (first_data_extent(3, lambda e: OBJ),
             'extent reads [%d, +' % OBJ),
        ]
        for edit, reason in cases:
            name = self._edit_index(data_backup, edit)
            for volume_is_new in (True, False):
                error = self.assertRaises(
                    ext_exception.BackupCorrupted, self.restore_bytes,
                    data_backup, len(self.data), volume_is_new)
                self.assertIn(reason, str(error))
                self.assertIn(data_backup.id, str(error))
                self.assertIn(name, str(error))
            for p, content in saved.items():
                with open(p, 'wb') as f:
                    f.write(content)
        # The control: re-sealing an unchanged index changes nothing.
        self._edit_index(data_backup, lambda doc: None)
        self.assertRestores(data_backup, self.data)

    def test_flipped_byte_in_index_object(self):
        backup = self._backup()
        path = self._index_objects(backup)[0]
        flip_byte(path)
        self.assertCorruptionDetected(backup, self._rel(backup, path))

    def test_truncated_index_object(self):
        backup = self._backup()
        path = self._index_objects(backup)[0]
        truncate_half(path)
        self.assertCorruptionDetected(backup, self._rel(backup, path))

    def test_missing_index_object(self):
        backup = self._backup()
        path = self._index_objects(backup)[0]
        os.unlink(path)
        self.assertCorruptionDetected(backup, self._rel(backup, path))

    def test_incremental_on_damaged_parent_index_fails(self):
        # Trusting a damaged index would make the new backup silently skip
        # changed data; falling back to a full backup would hide the damage.
        full = self._backup()
        flip_byte(self._index_objects(full)[0])
        changed = bytearray(self.data)
        changed[0:BLK] = base.random_bytes(BLK, seed=74)
        volume_path = self.write_volume(bytes(changed))
        self.assertRaises(exception.InvalidBackup, self.run_backup,
                          volume_path, parent=full)
        manifests = [rel for rel in base.tree_files(self.repo)
                     if rel.endswith('manifest.json')]
        self.assertEqual(1, len(manifests), manifests)


class ContainerTest(base.DriverTestCase):
    """Container names come from users; none may leave the repository."""

    def _escape_names(self):
        return [
            '..',
            '../x',
            '../../x',
            '..//x',
            'a/../../b',
            'a/../..',
            'a//../..//b',
            'a/b/../../../c',
            os.path.join(self.tmp, 'abs'),
            self.outside + '/../abs2',
            '/abs/path',
        ]

    def _malformed_names(self):
        return ['a//b', '.', 'a/./b', './a', 'a/', 'a\x00b', '\x00',
                '../\x00x']

    def _assert_rejected(self, container, action):
        before = base.tree_entries(self.tmp)
        root_entry = os.path.exists('/abs')
        try:
            self.assertRaises(exception.InvalidBackup, action)
        finally:
            if not root_entry and os.path.exists('/abs'):
                shutil.rmtree('/abs')
                self.fail('container %r created /abs' % container)
        after = base.tree_entries(self.tmp)
        repo = os.path.relpath(self.repo, self.tmp)
        escaped = [p for p in after - before
                   if not p.startswith(repo + os.sep)]
        self.assertEqual([], sorted(escaped),
                         'container %r wrote outside the repository'
                         % container)

    def test_backup_rejects_escaping_containers(self):
        path = self.write_volume(base.random_bytes(2 * OBJ, seed=80))
        for container in self._escape_names():
            self._assert_rejected(
                container,
                lambda: self.run_backup(path, container=container))

    def test_backup_rejects_malformed_containers(self):
        path = self.write_volume(base.random_bytes(2 * OBJ, seed=81))
        for container in self._malformed_names():
            self._assert_rejected(
                container,
                lambda: self.run_backup(path, container=container))

    def test_empty_container_means_the_default_one(self):
        # Cinder's own driver would store such a backup in the repository
        # root; an empty name is taken as no name instead.
        data = base.random_bytes(2 * OBJ, seed=83)
        backup = self.run_backup(self.write_volume(data), container='')
        self.assertEqual('backups', backup.container)
        self.assertEqual(['backups'], os.listdir(self.repo))
        self.assertRestores(backup, data)

    def _victim(self, backup, container):
        """A copy of the backup where a driver trusting container would look.

        The copy is placed by the documented layout, resolved against the
        repository the way a naive path join would resolve it: a driver
        that follows the name restores from it or deletes it.
        """
        source = self.backup_dir(backup)
        h = hashlib.sha256(backup.id.encode()).hexdigest()
        where = os.path.normpath(os.path.join(
            self.repo, container, h[0:2], h[2:4], backup.id))
        shutil.copytree(source, where)
        return {os.path.join(where, rel):
                base.sha256_file(os.path.join(where, rel))
                for rel in base.tree_files(where)}

    def _stored_backup_with_container(self, container):
        """A real backup whose record then points at a hostile container."""
        backup = self.run_backup(base.random_bytes(2 * OBJ, seed=82))
        victims = self._victim(backup, container)
        backup.container = container
        backup.save()
        return backup, victims

    def _assert_untouched(self, victims):
        self.assertNotEqual({}, victims)
        for path, digest in victims.items():
            self.assertTrue(os.path.isfile(path), path)
            self.assertEqual(digest, base.sha256_file(path), path)

    def test_restore_and_delete_refuse_escaping_containers(self):
        for container in ('../x', 'a/../../y', '../../z'):
            backup, victims = self._stored_backup_with_container(container)
            target = self.existing_target(2 * OBJ)
            garbage = base.sha256_file(target)
            self._assert_rejected(
                container, lambda: self.run_restore(backup, target, False))
            self.assertEqual(garbage, base.sha256_file(target))
            self._assert_rejected(
                container, lambda: self.run_delete(backup))
            self._assert_untouched(victims)

    def test_absolute_container_record_is_refused(self):
        outside = os.path.join(self.tmp, 'elsewhere')
        backup, victims = self._stored_backup_with_container(outside)
        target = self.new_target(2 * OBJ)
        self._assert_rejected(
            outside, lambda: self.run_restore(backup, target, True))
        self._assert_rejected(outside, lambda: self.run_delete(backup))
        self._assert_untouched(victims)


class ConfigurationTest(base.DriverTestCase):

    CONFIG_ERRORS = (exception.InvalidConfigurationValue,
                     exception.ConfigNotFound)

    def _assert_config_error(self, *options):
        """Constructing the driver or checking setup fails naming an option.

        A driver may refuse at construction or in check_for_setup_error;
        cinder-backup does both before it accepts any work.
        """
        def setup():
            self.make_driver().check_for_setup_error()
        error = self.assertRaises(self.CONFIG_ERRORS, setup)
        message = str(error)
        self.assertTrue(any(option in message for option in options),
                        '%r names none of %s' % (message, options))

    def test_valid_configuration_passes(self):
        self.make_driver().check_for_setup_error()

    def test_relative_posix_path(self):
        cwd = os.getcwd()
        os.chdir(self.tmp)
        self.addCleanup(os.chdir, cwd)
        self.flags(backup_posix_path='relative/repo')
        self._assert_config_error('backup_posix_path')
        self.assertFalse(os.path.exists(os.path.join(self.tmp, 'relative')))

    def test_empty_posix_path(self):
        self.flags(backup_posix_path='')
        self._assert_config_error('backup_posix_path', 'backup_path')

    def test_posix_path_is_a_regular_file(self):
        path = os.path.join(self.tmp, 'a-file')
        with open(path, 'wb') as f:
            f.write(b'not a directory')
        self.flags(backup_posix_path=path)
        self._assert_config_error('backup_posix_path')

    def test_object_size_not_a_multiple_of_block_size(self):
        # backup_file_size caps the object size; lift the cap so the object
        # size is the one in force.
        self.flags(backup_object_size=OBJ + 512, backup_file_size=16 * OBJ)
        self._assert_config_error('backup_object_size',
                                  'backup_sha_block_size_bytes')

    def test_capping_file_size_not_a_multiple_of_block_size(self):
        self.flags(backup_object_size=16 * OBJ, backup_file_size=OBJ + 512)
        self._assert_config_error('backup_file_size',
                                  'backup_sha_block_size_bytes')

    def test_block_size_not_dividing_object_size(self):
        self.flags(backup_sha_block_size_bytes=3000)
        self._assert_config_error('backup_object_size',
                                  'backup_sha_block_size_bytes')

    def test_bad_configuration_refuses_backups(self):
        # Even if setup checks were skipped, a backup whose blocks do not
        # tile its objects must not be written.
        self.flags(backup_object_size=OBJ + 512, backup_file_size=16 * OBJ)
        path = self.write_volume(base.random_bytes(2 * OBJ, seed=90))
        self.assertRaises(exception.CinderException, self.run_backup, path)
        self.assertEqual([], [rel for rel in base.tree_files(self.repo)
                              if rel.endswith('manifest.json')])
