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

"""Test volumes for the demo and the benchmark: generate, change, compare.

Owns the content of generated volumes (a quarter each of random data,
zeros, log-like text and patterns with sparse regions) and a bounded-memory
byte-for-byte comparison.  Knows nothing of Cinder or drivers.
"""

import collections
import os
import random

MiB = 1024 * 1024

# The volume is generated in blocks of this size; a block's content kind is
# picked by where it lies, so each quarter of the volume has one kind.
GEN_BLOCK = MiB
CONTENT_KINDS = ('random', 'zero', 'text', 'pattern/sparse')

# Writes that change the volume are this big, scattered at random aligned
# offsets, so that an incremental backup has to find them.
CHANGE_WRITE = 64 * 1024
CHANGE_FRACTION = 0.01

# Comparison reads this much from each file at a time: memory stays two
# chunks whatever the volume size.
COMPARE_CHUNK = 4 * MiB

Mismatch = collections.namedtuple('Mismatch', ['offset', 'reason'])

_WORDS = (
    'volume backup restore snapshot cinder nova glance keystone request '
    'completed started failed retry attach detach extend migrate manage '
    'scheduler host pool capacity thin thick replica iscsi nfs ceph lvm '
    'project user token service endpoint region zone status available '
    'creating deleting error in-use reserved quota usage bytes seconds'
).split()


def _text_lines(rng, count=4096):
    lines = []
    for n in range(count):
        words = ' '.join(rng.choice(_WORDS) for _ in range(rng.randint(3, 9)))
        lines.append(
            '2024-06-%02d %02d:%02d:%02d.%06d %d INFO cinder.%s '
            '[req-%08x] %s\n' % (
                1 + n % 28, rng.randrange(24), rng.randrange(60),
                rng.randrange(60), rng.randrange(10 ** 6),
                rng.randrange(1000, 99999), rng.choice(_WORDS),
                rng.getrandbits(32), words))
    return [line.encode('ascii') for line in lines]


def _text_block(rng, lines, size):
    # About 80 bytes a line: draw enough lines to overfill, then cut.
    parts = rng.choices(lines, k=size // 60 + 1)
    return b''.join(parts)[:size]


def _pattern_block(rng, index, size):
    """Repeated patterns interleaved with mostly-zero sparse regions."""
    out = bytearray(size)
    sub = 64 * 1024
    for start in range(0, size, sub):
        end = min(size, start + sub)
        slot = (start // sub) % 4
        if slot in (0, 3):
            unit = b'cinder-backup-ext pattern block %010d slot %d\n' % (
                index, slot)
            out[start:end] = (unit * ((end - start) // len(unit) + 1))[
                :end - start]
        elif slot == 1 and end - start >= 4096:
            at = start + rng.randrange((end - start) // 4096) * 4096
            out[at:at + 4096] = rng.randbytes(4096)
        # slot 2 stays zero
    return bytes(out)


def content_kind(block_index, block_count):
    return CONTENT_KINDS[block_index * len(CONTENT_KINDS) // block_count]


def generate_volume(path, size_bytes, seed, phase=None):
    """Write the demo volume: one quarter of each content kind."""
    rng = random.Random(seed)
    lines = _text_lines(rng)
    block_count = -(-size_bytes // GEN_BLOCK)
    with open(path, 'wb') as f:
        # A new volume reads as zeros; leaving zero blocks as holes keeps
        # the demo light on disk, as a thin volume would be.
        f.truncate(size_bytes)
        for index in range(block_count):
            offset = index * GEN_BLOCK
            size = min(GEN_BLOCK, size_bytes - offset)
            kind = content_kind(index, block_count)
            if kind == 'random':
                data = rng.randbytes(size)
            elif kind == 'text':
                data = _text_block(rng, lines, size)
            elif kind == 'pattern/sparse':
                data = _pattern_block(rng, index, size)
            else:
                data = None
            if data is not None:
                f.seek(offset)
                f.write(data)
            if phase:
                phase.advance_to(offset + size)
        f.flush()
        os.fsync(f.fileno())


def change_volume(path, size_bytes, seed, fraction=CHANGE_FRACTION,
                  phase=None):
    """Overwrite about ``fraction`` of the volume at scattered offsets.

    Every eighth write stores zeros, so data that turns into zeros is
    covered too: a restore that skips zero ranges of an incremental would
    keep stale data there.  Returns (bytes changed, number of writes).
    """
    rng = random.Random(seed + 1)
    unit = min(CHANGE_WRITE, size_bytes)
    slots = size_bytes // unit
    count = max(1, min(slots, int(size_bytes * fraction) // unit))
    offsets = sorted(rng.sample(range(slots), count))
    written = 0
    with open(path, 'r+b') as f:
        for n, slot in enumerate(offsets):
            data = bytes(unit) if n % 8 == 7 else rng.randbytes(unit)
            f.seek(slot * unit)
            f.write(data)
            written += unit
            if phase:
                phase.advance_to(written)
        f.flush()
        os.fsync(f.fileno())
    return written, count


def compare_files(expected_path, actual_path, chunk_size=COMPARE_CHUNK,
                  phase=None):
    """Compare two files byte for byte in bounded memory.

    Returns None if they are identical, else a Mismatch naming the first
    differing offset.
    """
    expected_size = os.path.getsize(expected_path)
    actual_size = os.path.getsize(actual_path)
    with open(expected_path, 'rb') as exp, open(actual_path, 'rb') as act:
        offset = 0
        while True:
            want = exp.read(chunk_size)
            got = act.read(chunk_size)
            if want != got:
                limit = min(len(want), len(got))
                at = next((i for i in range(limit) if want[i] != got[i]),
                          limit)
                if at < limit:
                    return Mismatch(offset + at,
                                    'byte %d differs: expected 0x%02x, '
                                    'restored 0x%02x' % (offset + at,
                                                         want[at], got[at]))
                return Mismatch(offset + at,
                                'sizes differ: expected %d bytes, restored '
                                '%d bytes' % (expected_size, actual_size))
            if not want:
                return None
            offset += len(want)
            if phase:
                phase.advance_to(offset)


def repository_usage(root):
    """(bytes, files) stored under ``root``, by apparent size."""
    total = files = 0
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except FileNotFoundError:
                continue
            files += 1
    return total, files
