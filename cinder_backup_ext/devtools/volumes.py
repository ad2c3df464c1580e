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
import errno
import os
import random

MiB = 1024 * 1024
GiB = 1024 * MiB

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
# A thin volume holds its data in pieces of this size spread over it, and
# zero runs of HOLE_CHECK bytes within them are left as holes.
PIECE = 16 * MiB
HOLE_CHECK = 64 * 1024

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


def placement(data_size, size, piece=PIECE):
    """(data offset, volume offset, length) of each piece of data_size
    bytes of data spread evenly over a thin volume of size bytes."""
    count = -(-data_size // piece)
    stride = size // count
    stride -= stride % piece
    return [(n * piece, n * stride, min(piece, data_size - n * piece))
            for n in range(count)]


def lay_out_sparse(source_path, target_path, size):
    """A new sparse file of size bytes holding source's data in pieces
    spread evenly over it: a thin volume.  Zero runs of HOLE_CHECK bytes
    stay holes, so data that became zeros in source is a hole here."""
    zero = bytes(HOLE_CHECK)
    with open(source_path, 'rb') as source, \
            open(target_path, 'wb') as target:
        target.truncate(size)
        for offset, at, length in placement(
                os.path.getsize(source_path), size):
            source.seek(offset)
            data = source.read(length)
            for start in range(0, len(data), HOLE_CHECK):
                block = data[start:start + HOLE_CHECK]
                if block != zero[:len(block)]:
                    target.seek(at + start)
                    target.write(block)
        target.flush()
        os.fsync(target.fileno())


def data_ranges(fd, size):
    """(start, end) of the parts of the file that hold data, from the
    file system (SEEK_DATA, SEEK_HOLE); the rest reads as zeros."""
    position = 0
    while position < size:
        try:
            start = os.lseek(fd, position, os.SEEK_DATA)
        except OSError as error:
            if error.errno == errno.ENXIO:
                return
            raise
        end = os.lseek(fd, start, os.SEEK_HOLE)
        yield start, min(end, size)
        position = end


def compare_sparse(expected_path, actual_path, chunk_size=COMPARE_CHUNK):
    """compare_files for large sparse files: only where either holds
    data is read; elsewhere both read as zeros."""
    size = os.path.getsize(expected_path)
    if os.path.getsize(actual_path) != size:
        return Mismatch(0, 'sizes differ: expected %d bytes, restored %d '
                        'bytes' % (size, os.path.getsize(actual_path)))
    with open(expected_path, 'rb') as exp, open(actual_path, 'rb') as act:
        ranges = sorted(list(data_ranges(exp.fileno(), size)) +
                        list(data_ranges(act.fileno(), size)))
        merged = []
        for start, end in ranges:
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        for start, end in merged:
            for at in range(start, end, chunk_size):
                length = min(chunk_size, end - at)
                exp.seek(at)
                act.seek(at)
                want, got = exp.read(length), act.read(length)
                if want != got:
                    first = next(i for i in range(length)
                                 if want[i] != got[i])
                    return Mismatch(at + first, 'byte %d differs'
                                    % (at + first))
    return None


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
