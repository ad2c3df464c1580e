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

"""Backups written by Cinder's own posix and nfs drivers (format 1.0.0).

Owns reading, verifying and deleting them, so operators can move to this
library without losing access to existing backups.  Such a backup is a
container holding `<prefix>_metadata` (JSON: per object its offset, length,
compression and the MD5 of its plaintext, which Cinder always writes and
this reader requires), `<prefix>_sha256file` and the
objects `<prefix>-NNNNN`; an incremental lists only changed extents.

A chain is restored in one pass: the newest object covering a byte wins and
older objects are only read for what no newer object covers.  Objects are as
large as Cinder's backup_file_size made them, so this path holds one such
object in memory at a time, as Cinder's driver does.
"""

import hashlib
import json
import re

from cinder import exception as cinder_exception

from cinder_backup_ext.repository import layout
from cinder_backup_ext.repository import repository
from cinder_backup_ext.runtime import buffers
from cinder_backup_ext.runtime import concurrency
from cinder_backup_ext.sealing import codec
from cinder_backup_ext.volume import volume_io

VERSION = '1.0.0'
_PREFIX = re.compile(r'^[A-Za-z0-9_.-]+$')
_MD5 = re.compile(r'^[0-9a-f]{32}$')
# New volumes read as zeros: zero pieces of this size are not written.
_ZERO_SKIP = 1 << 20


def metadata_name(prefix):
    return '%s_metadata' % prefix


def _validate_prefix(backup):
    prefix = backup.service_metadata
    if not prefix or not _PREFIX.match(prefix):
        raise cinder_exception.InvalidBackup(
            reason='backup %s has no usable object prefix %r'
            % (backup.id, prefix))
    return prefix


def _subtract(intervals, start, end):
    """Parts of [start, end) not covered by sorted disjoint intervals."""
    parts = []
    position = start
    for low, high in intervals:
        if high <= position:
            continue
        if low >= end:
            break
        if low > position:
            parts.append((position, min(low, end)))
        position = max(position, high)
        if position >= end:
            break
    if position < end:
        parts.append((position, end))
    return parts


def _add(intervals, start, end):
    merged = []
    for low, high in sorted(intervals + [(start, end)]):
        if merged and low <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


class LegacyBackups(object):
    def __init__(self, store, workers, depth):
        self.store = store
        self.workers = workers
        self.depth = depth

    @staticmethod
    def _damaged(backup, name, reason):
        return repository.damaged(backup.id, backup.container, name, reason)

    def _read(self, backup, name):
        return repository.read_stored(self.store, backup.id,
                                      backup.container, name)

    def read_metadata(self, backup):
        layout.validate_container(backup.container)
        name = metadata_name(_validate_prefix(backup))
        data = self._read(backup, name)
        try:
            metadata = json.loads(data.decode('utf-8'))
            if metadata.get('version') != VERSION:
                raise ValueError('version %r is not %s'
                                 % (metadata.get('version'), VERSION))
            objects = []
            for entry in metadata['objects']:
                (object_name, info), = entry.items()
                # '.' and '..' match the pattern but name directories.
                if not _PREFIX.match(object_name) or \
                        object_name in ('.', '..'):
                    raise ValueError('bad object name %r' % object_name)
                offset, length = info['offset'], info['length']
                if type(offset) is not int or type(length) is not int or \
                        offset < 0 or length < 0:
                    raise ValueError('bad extent for %s' % object_name)
                # Cinder's driver records the MD5 of every object; one
                # without it was not written by Cinder, and restoring it
                # unchecked would write whatever the share holds.
                md5 = info.get('md5')
                if not isinstance(md5, str) or not _MD5.match(md5):
                    raise ValueError('object %s has no valid md5 (%r)'
                                     % (object_name, md5))
                objects.append((object_name, offset, length,
                                codec.canonical(info['compression']), md5))
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise self._damaged(backup, name, 'unreadable metadata: %s'
                                % error)
        return objects, metadata.get('volume_meta')

    def fetch(self, item):
        """Read, decompress and check one object; item is (backup, name,
        length, codec, md5, parts).  Returns (item, plaintext)."""
        backup, object_name, length, codec_name, md5, parts = item
        stored = self._read(backup, object_name)
        try:
            plain = codec.decompress(codec_name, stored, length)
        except codec.CodecError as error:
            raise self._damaged(backup, object_name, str(error))
        if hashlib.md5(plain, usedforsecurity=False).hexdigest() != md5:
            raise self._damaged(backup, object_name, 'md5 mismatch')
        return item, plain

    def restore(self, chain, volume_file, volume_is_new,
                on_step=lambda done: None, volume_bytes=None):
        """Restore chain (newest first) into volume_file; return the
        volume metadata to put back, or None.

        With volume_bytes, metadata placing an object past that many bytes
        fails before anything is written: a damaged or forged offset must
        not make the restore write beyond the volume's end.
        """
        listed = [(backup,) + self.workers.call(self.read_metadata, backup)
                  for backup in chain]
        if volume_bytes is not None:
            for backup, objects, _meta in listed:
                for object_name, offset, length, _codec, _md5 in objects:
                    if offset + length > volume_bytes:
                        raise self._damaged(
                            backup, metadata_name(backup.service_metadata),
                            'object %s ends at byte %d, past the %d bytes '
                            'of the volume' % (object_name, offset + length,
                                               volume_bytes))
        work = []
        covered = []
        for backup, objects, _meta in listed:
            for object_name, offset, length, codec_name, md5 in \
                    reversed(objects):
                parts = _subtract(covered, offset, offset + length)
                if parts:
                    work.append((backup, object_name, length, codec_name,
                                 md5, [(low - offset, high - offset, low)
                                       for low, high in parts]))
                    covered = _add(covered, offset, offset + length)
        work.sort(key=lambda item: item[5][0][2])
        volume = volume_io.wrap(volume_file, self.workers)
        for item, plain in concurrency.ordered_map(
                self.workers, self.fetch, work, self.depth):
            view = memoryview(plain)
            for low, high, volume_offset in item[5]:
                self._write(volume, volume_offset, view[low:high],
                            volume_is_new)
            on_step(item[5][-1][2])
        volume_end = max((offset + length
                          for _backup, objects, _meta in listed
                          for _name, offset, length, _codec, _md5 in objects),
                         default=0)
        volume.finish(volume_end)
        for _backup, _objects, meta in listed:
            if meta:
                return meta
        return None

    @staticmethod
    def _write(volume, offset, data, volume_is_new):
        if not volume_is_new:
            volume.write_at(offset, data)
            return
        for start in range(0, len(data), _ZERO_SKIP):
            piece = data[start:start + _ZERO_SKIP]
            if piece != buffers.zero_block(len(piece)):
                volume.write_at(offset + start, piece)

    def delete(self, backup):
        layout.validate_container(backup.container)
        prefix = _validate_prefix(backup)
        for name in self.store.list_objects(backup.container):
            if '/' not in name and name.startswith(prefix):
                self.store.delete_object(backup.container, name)
        self.store.delete_container(backup.container)
