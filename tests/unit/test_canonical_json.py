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

"""Spliced canonical JSON is byte for byte what json.dumps writes."""

import base64
import json
import os
import tracemalloc

import blake3
import testtools

from cinder_backup_ext.repository import canonical_json


def reference(document):
    return json.dumps(document, sort_keys=True, separators=(',', ':'),
                      ensure_ascii=True, allow_nan=False).encode('ascii')


class CanonicalJsonTest(testtools.TestCase):

    def check(self, document, stored=None):
        """encode and digest of document (stored: the same, with values
        given as bytes) against json.dumps."""
        expected = reference(document)
        stored = document if stored is None else stored
        self.assertEqual(expected + b'\n',
                         canonical_json.encode(stored, b'\n'))
        self.assertEqual(blake3.blake3(expected).hexdigest(),
                         canonical_json.digest(stored))
        key = bytes(range(32))
        self.assertEqual(blake3.blake3(expected, key=key).hexdigest(),
                         canonical_json.digest(stored, key))

    def test_small_documents(self):
        self.check({'b': [1, -2, {'z': None, 'a': True}], 'a': 'x\u00e9"\\'})

    def test_long_base64_is_spliced_as_it_is(self):
        prints = base64.b64encode(os.urandom(300000))
        document = {'a': 1, 'fingerprints': prints.decode('ascii'),
                    'objects': [[0, 1, 'zstd']], 'z': 'end'}
        self.check(document)
        self.check(document, dict(document, fingerprints=prints))

    def test_two_long_strings(self):
        first = 'A' * 200000
        second = 'B' * 100000
        self.check({'x': first, 'y': second, 'm': 0})

    def test_long_strings_that_need_escapes(self):
        self.check({'a': 'x' * 100000 + '"', 'b': '\u00e9' * 70000,
                    'c': 'y' * 70000 + '\n'})

    def test_another_string_holding_the_mark(self):
        long = 'Q' * 100000
        for mark in ('\x00spliced:long', '\x00spliced:long' * 2):
            self.check({'long': long, 'other': mark})
            self.check({'long': long, 'nested': {'n': [mark]}})

    def test_no_copy_of_the_long_string(self):
        prints = base64.b64encode(os.urandom(6 * 1024 * 1024))
        document = {'a': 1, 'fingerprints': prints.decode('ascii')}
        tracemalloc.start()
        try:
            canonical_json.digest(document)
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        # Slices of 1 MiB, as str and as bytes; json.dumps made 3 copies.
        self.assertLess(peak, len(prints) // 3)
