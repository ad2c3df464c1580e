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

"""Manifests, segment indexes and Cinder 1.0.0 metadata, fuzzed.

hypothesis damages the documents of real backups: truncated or invalid
JSON, wrong types, negative or huge offsets and lengths, overlapping or
repeated extents and segments, object names with '..' or absolute paths,
unknown versions.  Structural damage is re-checksummed (and an index
re-sealed, its new digest put in the manifest) so that it reaches the
validation behind the checksums.  Every case must end in InvalidBackup
(BackupCorrupted is one) or in a restore that never writes outside the
volume's size; a restore from a damaged manifest alone that succeeds must
also be exact.  The runs are derandomized and bounded, and print how many
cases ran.
"""

import collections
import json
import os

import hypothesis
from hypothesis import strategies as st

from cinder.backup.drivers import posix as cinder_posix
from cinder import exception as cinder_exception
from oslo_utils import units

from cinder_backup_ext.repository import canonical_json
from cinder_backup_ext.repository import layout
from cinder_backup_ext.repository import manifest
from cinder_backup_ext.sealing import sealing
from tests.functional.reliability import figures
from tests.functional.reliability import hostile
from tests.unit import driver_base as base

OBJ = base.OBJECT_SIZE
BLK = base.BLOCK_SIZE
EXAMPLES = int(os.environ.get('CBE_FUZZ_EXAMPLES', '120'))
SETTINGS = hypothesis.settings(
    max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    # A failure is reported as found; shrinking could take minutes.
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate])


class FuzzTestCase(base.DriverTestCase):

    def setUp(self):
        super().setUp()
        self.outcomes = collections.Counter()
        self.volume_bytes = self.target_volume.size * units.Gi
        self.before_outside = self.snapshot_outside()

    def snapshot_outside(self):
        """Files of the test's directory outside the repository."""
        found = {}
        for rel in base.tree_files(self.tmp):
            path = os.path.join(self.tmp, rel)
            if not path.startswith(self.repo + os.sep) and \
                    not path.startswith(self.work + os.sep):
                found[rel] = base.sha256_file(path)
        return found

    def attempt_restore(self, backup, expected, exact):
        """Restore into a BoundedVolume; check the rules; return the
        outcome's name."""
        volume_is_new = len(self.outcomes) % 2 == 0
        path = (self.new_target(len(expected)) if volume_is_new
                else self.existing_target(len(expected)))
        holder = {}

        def wrap(f):
            holder['volume'] = hostile.BoundedVolume(f, self.volume_bytes)
            return holder['volume']
        try:
            self.run_restore(backup, path, volume_is_new, wrap=wrap)
        except cinder_exception.InvalidBackup as error:
            outcome = type(error).__name__
        except Exception as error:
            self.fail('a damaged document ended in %s, not a Cinder '
                      'InvalidBackup: %s' % (type(error).__name__, error))
        else:
            outcome = 'restored'
            if exact:
                self.assertEqual(base.sha256_bytes(expected),
                                 base.sha256_file(path),
                                 'a restore that succeeded is wrong')
        volume = holder.get('volume')
        if volume is not None:
            self.assertEqual([], volume.violations[:3],
                             'writes outside the volume\'s %d bytes'
                             % self.volume_bytes)
        self.assertEqual(self.before_outside, self.snapshot_outside())
        self.outcomes[outcome] += 1
        return outcome

    def report(self, title):
        figures.report(self, title, cases=sum(self.outcomes.values()),
                       **{k.replace(' ', '_'): v
                          for k, v in self.outcomes.items()})


class ManifestFuzzTest(FuzzTestCase):
    """This library's format: the manifest and segment index of an
    incremental backup (so that objects refer to two chain members)."""

    def setUp(self):
        super().setUp()
        self.data = b''.join([base.random_bytes(3 * OBJ, 1), bytes(2 * OBJ),
                              base.compressible_bytes(3 * OBJ, 2)])
        self.full = self.run_backup(self.data)
        changed = bytearray(self.data)
        changed[OBJ + BLK:OBJ + 3 * BLK] = base.random_bytes(2 * BLK, 3)
        changed[6 * OBJ:6 * OBJ + BLK] = bytes(BLK)
        self.changed = bytes(changed)
        self.backup = self.run_backup(self.changed, parent=self.full)
        self.directory = self.backup_dir(self.backup)
        self.manifest_path = os.path.join(self.directory, layout.MANIFEST)
        self.index_path = os.path.join(self.directory,
                                       layout.index_object_name(0))
        with open(self.manifest_path, 'rb') as f:
            self.manifest_raw = f.read()
        with open(self.index_path, 'rb') as f:
            self.index_raw = f.read()
        self.manifest_doc = json.loads(self.manifest_raw)
        materials = sealing.Materials(*self.manifest_doc['segments'][0][3:])
        self.index_doc = json.loads(sealing.open_object(self.index_raw,
                                                        materials))

    def put_back(self):
        for path, raw in ((self.manifest_path, self.manifest_raw),
                          (self.index_path, self.index_raw)):
            with open(path, 'wb') as f:
                f.write(raw)

    def write(self, path, raw):
        with open(path, 'wb') as f:
            f.write(raw)

    @staticmethod
    def dump(document):
        document = dict(document)
        document.pop('checksum', None)
        return manifest._dump(document)

    def write_index(self, raw):
        """Store raw as index 0, sealed plainly, and point the manifest
        at it so that it passes the digest check."""
        self.write(self.index_path, raw)
        document = json.loads(self.manifest_raw)
        document['segments'][0][3:] = ['none', len(raw), len(raw),
                                       sealing.digest(raw)]
        self.write(self.manifest_path, self.dump(document))

    def test_sanity_of_the_fixture(self):
        # The untouched backup restores; re-sealing an unchanged index
        # keeps it restorable, so rejections below come from the damage.
        self.write_index(canonical_json.encode(self.index_doc, b'\n'))
        self.assertEqual('restored', self.attempt_restore(
            self.backup, self.changed, exact=True))

    @SETTINGS
    @hypothesis.given(st.data())
    def test_fuzzed_manifest(self, data):
        document, _what = hostile.mutate(data, self.manifest_doc)
        try:
            self.write(self.manifest_path, self.dump(document))
            self.attempt_restore(self.backup, self.changed, exact=True)
        finally:
            self.put_back()

    @SETTINGS
    @hypothesis.given(st.data())
    def test_fuzzed_segment_index(self, data):
        document, _what = hostile.mutate(data, self.index_doc)
        try:
            self.write_index(self.dump(document))
            self.attempt_restore(self.backup, self.changed, exact=False)
        finally:
            self.put_back()

    @SETTINGS
    @hypothesis.given(st.data(), st.booleans())
    def test_damaged_bytes(self, data, index):
        raw, _kind = hostile.damage_bytes(
            data, self.index_raw if index else self.manifest_raw)
        try:
            if index:
                self.write_index(raw)
            else:
                self.write(self.manifest_path, raw)
            self.attempt_restore(self.backup, self.changed, exact=True)
        finally:
            self.put_back()

    def test_unknown_versions_and_formats(self):
        for key, value in [('version', 1), ('version', 3),
                           ('version', '2'), ('version', None),
                           ('format', 'cinder-backup-ext-index'),
                           ('digest_algorithm', 'md5')]:
            document = dict(self.manifest_doc, **{key: value})
            self.write(self.manifest_path, self.dump(document))
            self.assertEqual('BackupCorrupted', self.attempt_restore(
                self.backup, self.changed, exact=True), (key, value))
        self.put_back()

    def test_volume_metadata_that_is_not_cinders(self):
        # The manifest is intact; the volume metadata it carries for
        # Cinder's put_metadata() is not Cinder's JSON.
        for meta in ['not json', '{}', '[1]', '"text"', '{"version": 2, '
                     '"volume-base-metadata": 5}']:
            document = dict(self.manifest_doc, volume_meta=meta)
            self.write(self.manifest_path, self.dump(document))
            self.assertEqual('BackupCorrupted', self.attempt_restore(
                self.backup, self.changed, exact=False), meta)
        self.put_back()

    def tearDown(self):
        if self.outcomes:
            self.report('fuzz %s' % self._testMethodName)
        super().tearDown()


class CinderMetadataFuzzTest(FuzzTestCase):
    """Cinder's own 1.0.0 format: its metadata has no checksum, so every
    change reaches the reader."""

    def setUp(self):
        super().setUp()
        self.data = b''.join([base.random_bytes(2 * OBJ, 4), bytes(OBJ),
                              base.compressible_bytes(2 * OBJ, 5)])
        self.backup = self.run_backup(
            self.data, driver_class=cinder_posix.PosixBackupDriver)
        name = self.backup.service_metadata + '_metadata'
        self.metadata_path = [os.path.join(self.repo, rel)
                              for rel in self.backup_files(self.backup)
                              if rel.endswith(name)][0]
        with open(self.metadata_path, 'rb') as f:
            self.metadata_raw = f.read()
        self.metadata_doc = json.loads(self.metadata_raw)

    @SETTINGS
    @hypothesis.given(st.data())
    def test_fuzzed_metadata(self, data):
        document, _what = hostile.mutate(data, self.metadata_doc)
        try:
            with open(self.metadata_path, 'w') as f:
                json.dump(document, f)
            self.attempt_restore(self.backup, self.data, exact=False)
        finally:
            with open(self.metadata_path, 'wb') as f:
                f.write(self.metadata_raw)

    def test_offset_past_the_volume(self):
        document = json.loads(self.metadata_raw)
        first = document['objects'][0]
        (name, info), = first.items()
        info['offset'] = self.volume_bytes - OBJ // 2
        with open(self.metadata_path, 'w') as f:
            json.dump(document, f)
        self.assertEqual('BackupCorrupted', self.attempt_restore(
            self.backup, self.data, exact=False))

    def tearDown(self):
        if self.outcomes:
            self.report('fuzz %s' % self._testMethodName)
        super().tearDown()
