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

"""One backup's objects in a store: sealed, verified, named by layout.

Owns the translation between the format (manifest, segment indexes, data
objects) and the storage interface, and turns every storage, verification
or format failure into a BackupCorrupted naming backup and object.  The
methods that touch storage run on native threads: no logging in them.
"""

import base64
import copy

from cinder_backup_ext import exception
from cinder_backup_ext.repository import layout
from cinder_backup_ext.repository import manifest
from cinder_backup_ext.repository import records
from cinder_backup_ext.sealing import crypto
from cinder_backup_ext.sealing import sealing


# The associated-data name of an encrypted backup's sealed volume metadata.
VOLUME_META = 'manifest.json#volume_meta'


class ObjectSizeUnknown(ValueError):
    """A data object's volume offset was asked of a location that does not
    know the backup's object size: a mistake of the caller, not damage in
    the store."""


class BackupLocation(object):
    """A backup's ID and its directory, relative to the repository, and
    what it takes to open its objects: its cipher when it is encrypted and
    its object size (data objects are sealed with their volume offset).

    The object size of an existing backup is in its manifest: a reader
    makes the location it reads data objects through with
    with_object_size(manifest.object_size).  Reading a manifest never
    changes the location it is read through.
    """

    def __init__(self, container, backup_id, cipher=None, object_size=None):
        self.backup_id = backup_id
        self.container = container
        self.directory = layout.backup_directory(container, backup_id)
        self.cipher = cipher
        self.object_size = object_size

    @classmethod
    def of_record(cls, record, keyring=None):
        """Where the backup of a database record is; with a keyring (a
        keys.KeyRing), also its cipher, the key fetched when the record
        names one."""
        cipher = None
        if keyring is not None:
            cipher = keyring.cipher(record.id, records.key_id(record))
        return cls(record.container, record.id, cipher)

    def with_object_size(self, object_size):
        """A new location of the same backup, with the same cipher, that
        knows its object size."""
        return BackupLocation(self.container, self.backup_id, self.cipher,
                              object_size)

    def data_offset(self, number):
        """The volume offset of data object number, which its sealing
        authenticates."""
        if self.object_size is None:
            raise ObjectSizeUnknown(
                'backup %s: the volume offset of data object %d needs the '
                'object size, which this location does not know; make it '
                'with with_object_size(manifest.object_size)'
                % (self.backup_id, number))
        return number * self.object_size


def damaged(backup_id, directory, name, reason):
    """The error for a stored object that cannot be used."""
    return exception.BackupCorrupted(
        backup_id=backup_id, object='%s/%s' % (directory, name),
        reason=reason)


def read_stored(store, backup_id, directory, name, buffer=None):
    """An object's stored bytes; BackupCorrupted if it cannot be read.

    With a buffer, they are read into it and a view of it is returned.
    """
    try:
        if buffer is not None:
            return memoryview(buffer)[:store.read_object_into(
                directory, name, buffer)]
        return store.get_object(directory, name)
    except exception.ObjectNotFound:
        raise damaged(backup_id, directory, name, 'object is missing')
    except OSError as error:
        raise damaged(backup_id, directory, name,
                      'cannot read: %s' % error)


def fingerprint_secret(locations, newest):
    """The key bytes of the fingerprints in the newest manifest's indexes:
    the fingerprint secret of the chain member its fingerprint_key_owner
    names, or None for plain BLAKE3.  locations[d] is chain member d's,
    with its cipher when it is encrypted."""
    owner = newest.fingerprint_key_owner
    if owner is None:
        return None
    location = locations[newest.chain.index(owner)]
    if location.cipher is None:
        raise damaged(newest.backup_id, locations[0].directory,
                      layout.MANIFEST,
                      'its fingerprints are keyed with the key of backup '
                      '%s, which has none' % owner)
    return location.cipher.fingerprint_secret


class Repository(object):
    def __init__(self, store):
        self.store = store

    def _damaged(self, location, name, reason):
        return damaged(location.backup_id, location.directory, name, reason)

    def _read(self, location, name, buffer=None):
        return read_stored(self.store, location.backup_id,
                           location.directory, name, buffer)

    def _open(self, location, name, offset, materials, scratch=None):
        buffer = None
        if scratch is not None:
            # One byte more than expected shows an object too long.
            buffer = scratch.buffer('stored', materials.stored + 1)
        stored = self._read(location, name, buffer)
        try:
            return sealing.open_object(stored, materials, location.cipher,
                                       name, offset, scratch)
        except sealing.SealError as error:
            raise self._damaged(location, name, str(error))

    def prepare(self, location):
        self.store.put_container(location.directory)

    # data objects

    def write_data(self, location, number, codec_name, data, scratch=None):
        """Seal and store one data object; data may be a list of pieces.

        With a sealing.Scratch, the object is sealed in its buffers.
        """
        name = layout.data_object_name(number)
        stored, materials = sealing.seal_object(
            codec_name, data, location.cipher, name,
            location.data_offset(number), scratch)
        self.store.put_object(location.directory, name, stored)
        return materials

    def read_data(self, location, number, materials, scratch=None):
        """The plaintext of one data object, verified.

        With a sealing.Scratch, it is read and opened in its buffers.
        """
        return self._open(location, layout.data_object_name(number),
                          location.data_offset(number), materials, scratch)

    # segment indexes

    def write_index(self, location, codec_name, index):
        data = manifest.encode_index(location.backup_id, index)
        name = layout.index_object_name(index.number)
        stored, materials = sealing.seal_object(
            codec_name, data, location.cipher, name, index.offset)
        self.store.put_object(location.directory, name, stored)
        return manifest.SegmentRef(index.number, index.offset, index.length,
                                   materials)

    def read_index(self, location, segment, chain_length, block_size=None):
        """A segment index, checked against its entry in the manifest
        (and the manifest's block_size, which restore and change
        tracking rely on, when given)."""
        name = layout.index_object_name(segment.number)
        data = self._open(location, name, segment.offset, segment.materials)
        try:
            return manifest.decode_index(data, location.backup_id, segment,
                                         chain_length, block_size)
        except manifest.ManifestError as error:
            raise self._damaged(location, name, str(error))

    # manifests

    def reserve_manifest(self, location):
        """A placeholder for the manifest, made before anything else is
        written: write_manifest through it fails once a delete has removed
        the backup's objects, instead of completing a backup over them."""
        return self.store.reserve_object(location.directory, layout.MANIFEST)

    def write_manifest(self, location, backup_manifest, reservation=None):
        """Store the manifest, which makes the backup complete; through
        the reservation when there is one (BackupDeletedMeanwhile if the
        backup's objects were deleted since)."""
        cipher = location.cipher
        mac_key = None
        if cipher is not None:
            mac_key = cipher.mac_key
            backup_manifest = copy.copy(backup_manifest)
            if backup_manifest.volume_meta is not None:
                # Volume names and metadata are the owner's business too.
                backup_manifest.sealed_volume_meta = base64.b64encode(
                    cipher.seal(VOLUME_META, 0, backup_manifest.volume_meta
                                .encode('utf-8'))).decode('ascii')
                backup_manifest.volume_meta = None
        data = manifest.encode_manifest(backup_manifest, mac_key)
        if reservation is None:
            self.store.put_object(location.directory, layout.MANIFEST, data)
            return
        try:
            self.store.commit_object(location.directory, layout.MANIFEST,
                                     reservation, data)
        except exception.ObjectNotFound:
            # A commit run again after a failover finds its first run's
            # rename done: that is success, not a delete.
            if not self._holds(location, layout.MANIFEST, data):
                raise exception.BackupDeletedMeanwhile(location.directory)

    def _holds(self, location, name, data):
        try:
            return self.store.get_object(location.directory, name) == data
        except exception.ObjectNotFound:
            return False

    def has_manifest(self, location):
        return self.store.exists(location.directory, layout.MANIFEST)

    def read_manifest(self, location):
        """The backup's manifest, decoded and checked (its MAC too when the
        location has a cipher).  The location is left as it is: data
        objects are read through location.with_object_size(
        manifest.object_size)."""
        data = self._read(location, layout.MANIFEST)
        try:
            result = manifest.decode_manifest(data, location.backup_id)
            self._check_encryption(location, result, data)
        except manifest.ManifestError as error:
            raise self._damaged(location, layout.MANIFEST, str(error))
        return result

    @staticmethod
    def _check_encryption(location, result, data):
        """The database, not the share, says whether a backup is
        encrypted: a manifest rewritten as plain must not pass."""
        cipher = location.cipher
        if cipher is None:
            if result.encryption is not None:
                raise manifest.ManifestError(
                    'the manifest says the backup is encrypted with key %s, '
                    'the database records no key' % result.key_id)
            return
        if result.key_id != cipher.key_id:
            raise manifest.ManifestError(
                'the manifest names key %s, the database key %s'
                % (result.key_id, cipher.key_id))
        manifest.check_mac(data, cipher.mac_key)
        if result.sealed_volume_meta is not None:
            try:
                result.volume_meta = cipher.open(
                    VOLUME_META, 0, base64.b64decode(
                        result.sealed_volume_meta)).decode('utf-8')
            except (ValueError, crypto.DecryptionError) as error:
                raise manifest.ManifestError(
                    'sealed volume metadata: %s' % error)

    # deletion

    def delete(self, location):
        """Remove the manifest first, so a half-deleted backup never looks
        complete, then everything else, then the empty directories.

        Everything else includes the placeholder of a manifest still being
        written (reserve_manifest).  A writer whose manifest landed after
        the first removal did so before its placeholder went, so the
        second removal of the manifest, after everything else, takes it:
        no manifest outlives the objects it describes.
        """
        directory = location.directory
        self.store.delete_object(directory, layout.MANIFEST)
        self.store.delete_objects(directory,
                                  self.store.list_objects(directory))
        self.store.delete_object(directory, layout.MANIFEST)
        self.store.delete_container(directory)
