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

"""Hostile documents for the fuzz tests: hypothesis strategies that damage
a JSON document the way a broken disk or someone with write access to the
share could, and a volume file that records any write past its end.
"""

import json
import os

from hypothesis import strategies as st

# Values that break assumptions: wrong types, signs, sizes and paths.
HOSTILE_VALUES = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-2 ** 64, max_value=2 ** 64),
    st.sampled_from([-1, 0, 1, 7, 4095, 4096, 65536, 2 ** 31, 2 ** 32,
                     2 ** 40, 2 ** 50, 2 ** 53 + 1, 2 ** 63, -2 ** 63]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(['..', '../../../etc/passwd', '/etc/passwd',
                     'data/../../x', '', 'zstd', 'none', 'bz2', '\x00',
                     'cinder-backup-ext', 'blake3', '0' * 64]),
    st.lists(st.integers(min_value=-5, max_value=2 ** 40), max_size=8),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=3),
)

ACTIONS = ('replace', 'delete', 'duplicate', 'swap', 'nudge')


def paths(document, prefix=()):
    """Every key path in a JSON document, containers included."""
    found = [prefix]
    if isinstance(document, dict):
        for key, value in document.items():
            found.extend(paths(value, prefix + (key,)))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found.extend(paths(value, prefix + (index,)))
    return found


def _parent(document, path):
    for key in path[:-1]:
        document = document[key]
    return document


def mutate(data, document):
    """Damage a copy of document with steps drawn from data (st.data()).
    Returns (document, description)."""
    document = json.loads(json.dumps(document))
    steps = []
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        candidates = [p for p in paths(document) if p]
        if not candidates:
            break
        path = data.draw(st.sampled_from(candidates))
        action = data.draw(st.sampled_from(ACTIONS))
        parent = _parent(document, path)
        key = path[-1]
        value = parent[key]
        if action == 'delete':
            del parent[key]
        elif action == 'duplicate' and isinstance(parent, list):
            # Overlapping extents and segments, repeated chain members.
            parent.insert(key, json.loads(json.dumps(value)))
        elif action == 'swap' and isinstance(parent, list) and \
                len(parent) > 1:
            other = data.draw(st.integers(0, len(parent) - 1))
            parent[key], parent[other] = parent[other], parent[key]
        elif action == 'nudge' and type(value) is int:
            parent[key] = value + data.draw(st.sampled_from(
                [-4096, -1, 1, 4096, 65536, -value - 1, value, 2 ** 40]))
        else:
            action = 'replace'
            parent[key] = data.draw(HOSTILE_VALUES)
        steps.append('%s %s' % (action, '/'.join(map(str, path))))
    return document, '; '.join(steps)


def damage_bytes(data, raw):
    """Truncated, bit-flipped or garbage variants of raw bytes."""
    kind = data.draw(st.sampled_from(['truncate', 'flip', 'garbage',
                                      'empty', 'not-utf8']))
    if kind == 'truncate' and raw:
        return raw[:data.draw(st.integers(0, len(raw) - 1))], kind
    if kind == 'flip' and raw:
        position = data.draw(st.integers(0, len(raw) - 1))
        bit = 1 << data.draw(st.integers(0, 7))
        return (raw[:position] + bytes([raw[position] ^ bit]) +
                raw[position + 1:]), kind
    if kind == 'not-utf8':
        return b'\xff\xfe' + raw, kind
    if kind == 'garbage':
        return data.draw(st.binary(max_size=64)), kind
    return b'', 'empty'


class BoundedVolume(object):
    """A volume file of `limit` bytes backed by a shorter real file.

    Records every write that starts or ends outside [0, limit) instead of
    making it, and drops the part of a write past the real file's end, so
    a hostile backup claiming a gigabyte costs no disk.  Like some volume
    files cinder-backup hands to drivers, it has no fileno().
    """

    def __init__(self, f, limit):
        self._f = f
        self._limit = limit
        self._real = os.fstat(f.fileno()).st_size
        self._position = 0
        self.violations = []
        self.bytes_written = 0

    def seek(self, offset, whence=os.SEEK_SET):
        if whence == os.SEEK_SET:
            self._position = offset
        elif whence == os.SEEK_CUR:
            self._position += offset
        else:
            self._position = self._limit + offset
        return self._position

    def tell(self):
        return self._position

    def write(self, data):
        length = len(data)
        start, end = self._position, self._position + length
        if start < 0 or end > self._limit:
            self.violations.append((start, length))
        elif start < self._real:
            self._f.seek(start)
            self._f.write(bytes(memoryview(data)[:self._real - start]))
        self.bytes_written += length
        self._position = end
        return length

    def flush(self):
        self._f.flush()

    def read(self, size=-1):
        raise IOError('a restore target is not read')
