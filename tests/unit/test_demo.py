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

"""Tests of the ``cinder-backup-ext demo`` command and its helpers.

The command itself runs end to end in tests/functional/test_demo_command.py.
"""

import importlib
import io
import os
import shutil
import zlib

import fixtures
import testtools

from cinder_backup_ext.cmd import main as cmd_main
from cinder_backup_ext.cmd import progress
from cinder_backup_ext.devtools import demo
from cinder_backup_ext.devtools import harness
from cinder_backup_ext.devtools import volumes

MiB = 1024 * 1024


def _write(path, data):
    with open(path, 'wb') as f:
        f.write(data)


class CommandLineTestCase(testtools.TestCase):
    """The demo's and the benchmark's options, parsed as the command does."""

    def parse(self, *argv):
        modules = {name: importlib.import_module(path)
                   for name, path in cmd_main.SUBCOMMANDS.items()}
        return cmd_main.build_parser(modules).parse_args(list(argv))

    def test_unknown_compression_is_a_usage_error(self):
        for command in ('demo', 'bench'):
            stderr = io.StringIO()
            with fixtures.MonkeyPatch('sys.stderr', stderr):
                error = self.assertRaises(SystemExit, self.parse, command,
                                          '--compression', 'foo')
            self.assertEqual(2, error.code)
            errors = [line for line in stderr.getvalue().splitlines()
                      if 'error:' in line]
            self.assertEqual(1, len(errors), stderr.getvalue())
            self.assertIn("argument --compression: invalid choice: 'foo'",
                          errors[0])
            for choice in ('none', 'zlib', 'bz2', 'zstd'):
                self.assertIn(repr(choice), errors[0])

    def test_compression_choices_are_cinders_option(self):
        from cinder.backup import chunkeddriver
        option, = [opt for opt in chunkeddriver.backup_opts
                   if opt.name == 'backup_compression_algorithm']
        self.assertEqual(list(option.type.choices),
                         list(harness.COMPRESSION_CHOICES))

    def test_compression_ignores_case_as_the_option_does(self):
        self.assertEqual('zstd',
                         self.parse('demo', '--compression', 'ZStd')
                         .compression)
        self.assertEqual('bz2',
                         self.parse('bench', '--compression', 'BZ2')
                         .compression)
        self.assertIsNone(self.parse('demo').compression)
        self.assertEqual('zstd', self.parse('bench').compression)


class CompareFilesTestCase(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.expected = os.path.join(self.tmp, 'expected')
        self.actual = os.path.join(self.tmp, 'actual')
        self.data = os.urandom(3 * 4096 + 100)
        _write(self.expected, self.data)

    def test_identical_files_match(self):
        _write(self.actual, self.data)
        self.assertIsNone(volumes.compare_files(
            self.expected, self.actual, chunk_size=4096))

    def test_one_flipped_byte_is_found_at_its_offset(self):
        for offset in (0, 4095, 4096, 9000, len(self.data) - 1):
            damaged = bytearray(self.data)
            damaged[offset] ^= 0x01
            _write(self.actual, bytes(damaged))
            mismatch = volumes.compare_files(
                self.expected, self.actual, chunk_size=4096)
            self.assertIsNotNone(mismatch)
            self.assertEqual(offset, mismatch.offset)
            self.assertIn('byte %d differs' % offset, mismatch.reason)

    def test_short_restore_is_a_mismatch(self):
        _write(self.actual, self.data[:-1])
        mismatch = volumes.compare_files(
                self.expected, self.actual, chunk_size=4096)
        self.assertEqual(len(self.data) - 1, mismatch.offset)
        self.assertIn('sizes differ', mismatch.reason)

    def test_long_restore_is_a_mismatch(self):
        _write(self.actual, self.data + b'\0')
        mismatch = volumes.compare_files(
                self.expected, self.actual, chunk_size=4096)
        self.assertEqual(len(self.data), mismatch.offset)

    def test_equal_prefixes_are_not_enough(self):
        # Trailing zeros matter: a restore that stops writing early must
        # fail even though every byte it wrote is right.
        _write(self.expected, self.data + bytes(8192))
        _write(self.actual, self.data + bytes(8191) + b'\1')
        mismatch = volumes.compare_files(
                self.expected, self.actual, chunk_size=4096)
        self.assertEqual(len(self.data) + 8191, mismatch.offset)

    def test_verdict_exit_codes(self):
        out = io.StringIO()
        self.assertEqual(demo.EXIT_OK, demo.report_verification(None, out))
        self.assertIn('verification OK', out.getvalue())
        err = io.StringIO()
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', err))
        code = demo.report_verification(volumes.Mismatch(7, 'byte 7 differs'),
                                        out)
        self.assertEqual(demo.EXIT_FAILED, code)
        self.assertIn('VERIFICATION FAILED', err.getvalue())
        self.assertIn('offset 7', err.getvalue())


class VolumeContentTestCase(testtools.TestCase):

    SIZE = 8 * MiB

    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.path = os.path.join(self.tmp, 'volume.img')
        volumes.generate_volume(self.path, self.SIZE, seed=1)

    def quarter(self, index):
        with open(self.path, 'rb') as f:
            f.seek(index * self.SIZE // 4)
            return f.read(self.SIZE // 4)

    def test_each_quarter_has_its_kind(self):
        self.assertEqual(self.SIZE, os.path.getsize(self.path))
        random_q, zero_q, text_q, mixed_q = (self.quarter(i)
                                             for i in range(4))
        self.assertGreater(len(zlib.compress(random_q, 1)),
                           0.99 * len(random_q))
        self.assertEqual(bytes(len(zero_q)), zero_q)
        self.assertLess(len(zlib.compress(text_q, 6)), 0.5 * len(text_q))
        self.assertTrue(text_q.isascii())
        self.assertIn(bytes(64 * 1024), mixed_q)
        self.assertIn(b'pattern block', mixed_q)

    def test_generation_is_reproducible(self):
        other = os.path.join(self.tmp, 'other.img')
        volumes.generate_volume(other, self.SIZE, seed=1)
        self.assertIsNone(volumes.compare_files(self.path, other))

    def test_change_touches_about_one_percent(self):
        before = os.path.join(self.tmp, 'before.img')
        shutil.copyfile(self.path, before)
        changed, writes = volumes.change_volume(self.path, self.SIZE, seed=1)
        self.assertEqual(writes * volumes.CHANGE_WRITE, changed)
        self.assertAlmostEqual(0.01, changed / self.SIZE, delta=0.005)
        self.assertIsNotNone(volumes.compare_files(before, self.path))


class CountingFileTestCase(testtools.TestCase):

    def test_progress_follows_the_highest_offset(self):
        phase = progress.Phase('t', 100, stream=io.StringIO(),
                               interactive=False)
        backing = io.BytesIO(bytes(100))
        counted = harness.CountingFile(backing, phase)
        self.assertEqual(b'\0' * 10, counted.read(10))
        self.assertEqual(10, phase.done)
        counted.seek(60)
        counted.write(b'x' * 20)
        self.assertEqual(80, phase.done)
        counted.seek(0)
        self.assertEqual(80, phase.done)
        self.assertEqual(10, counted.bytes_read)
        self.assertEqual(20, counted.bytes_written)
        self.assertEqual(0, counted.tell())
        self.assertEqual(bytes(60) + b'x' * 20 + bytes(20),
                         backing.getvalue())

    def test_non_interactive_phase_prints_one_line(self):
        out = io.StringIO()
        ticks = iter([0.0, 2.0])
        phase = progress.Phase('full backup', 4 * MiB, stream=out,
                               interactive=False, clock=lambda: next(ticks))
        phase.advance_to(MiB)
        phase.advance_to(4 * MiB)
        phase.finish('stored 1.0 MiB')
        lines = out.getvalue().splitlines()
        self.assertEqual(1, len(lines))
        self.assertIn('full backup', lines[0])
        self.assertIn('2.0 MiB/s', lines[0])
        self.assertIn('stored 1.0 MiB', lines[0])
