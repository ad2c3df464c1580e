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

"""The engine's face to Cinder: ChunkedBackupDriver.

Owns the backup driver API (backup, restore, delete, export/import,
setup checks), configuration, chains, cancellation and errors.  It knows
nothing of files or mounts: a subclass provides the ObjectStore.  The data
paths live in backup_job, restore_job and legacy.
"""

import abc
import collections
import time
import types

from oslo_config import cfg
from oslo_log import log as logging
from oslo_utils import timeutils
from oslo_utils import units

from cinder.backup import driver
from cinder import exception as cinder_exception
from cinder import objects
from cinder.objects import fields

from cinder_backup_ext import backup_job
from cinder_backup_ext import chain as backup_chain
from cinder_backup_ext import codec
from cinder_backup_ext import concurrency
from cinder_backup_ext import crypto
from cinder_backup_ext import exception
from cinder_backup_ext.i18n import _
from cinder_backup_ext import io_priority
from cinder_backup_ext import keys
from cinder_backup_ext import layout
from cinder_backup_ext import legacy
from cinder_backup_ext import manifest
from cinder_backup_ext import memory
from cinder_backup_ext import notifications
from cinder_backup_ext import parent as parent_view
from cinder_backup_ext import records
from cinder_backup_ext import repository
from cinder_backup_ext import restore_job
from cinder_backup_ext import throttle
from cinder_backup_ext import volume_io

LOG = logging.getLogger(__name__)

chunked_opts = [
    cfg.IntOpt('backup_object_size',
               default=8 * units.Mi,
               min=4096,
               help='Bytes of volume data read, compared and stored per '
                    'object. Each object is compressed on its own, so '
                    'larger objects compress better and make fewer files; '
                    'smaller ones take less memory. Must be a multiple of '
                    'backup_sha_block_size_bytes; objects never exceed '
                    'backup_file_size.'),
    cfg.IntOpt('backup_native_threads',
               default=2,
               min=1,
               help='Native threads that fingerprint, compress, encrypt, '
                    'verify and store objects in parallel for one backup or '
                    'restore. Up to the CPU cores a host can spare for one '
                    'operation; each thread adds two or three object-sized '
                    'buffers to its memory.'),
    cfg.BoolOpt('backup_encryption_enabled',
                default=False,
                help='Encrypt every new backup with a 256-bit AES key of its '
                     'own, created through the key manager configured in '
                     '[key_manager] (Barbican). Restores and deletes of '
                     'existing backups work whatever this says.'),
    cfg.IntOpt('backup_allocation_samples',
               default=16,
               min=0,
               help='Blocks (backup_sha_block_size_bytes each) read at '
                    'random, before a backup, in the parts of a thin volume '
                    'that it reports as never allocated (Ceph RBD): a block '
                    'holding data there fails the backup instead of storing '
                    'zeros for it. 0 trusts the report without a check.'),
    cfg.IntOpt('backup_pipeline_depth',
               default=2,
               min=1,
               help='Objects in flight per backup or restore (at least '
                    'backup_native_threads). A backup holds about (depth + '
                    '1 + 2 x threads) x backup_object_size, plus threads x '
                    'backup_object_size when encrypted, whatever the volume '
                    'size. Segment indexes come on top: a segment covers '
                    '1024 objects (8 GiB), and when every block in it is '
                    'an extent of its own they add up to about 100 MiB to '
                    'a full backup, 95 MiB to a restore and 200 MiB to an '
                    'incremental (which also holds two of its parent\'s '
                    'indexes), or 385 MiB when its blocks come from the '
                    'objects of many ancestors, with the default 32 KiB '
                    'backup_sha_block_size_bytes; in proportion to '
                    'backup_object_size / backup_sha_block_size_bytes '
                    '(8 times as much with 4 KiB blocks). See '
                    'tools/measure_index_memory.py.'),
]

CONF = cfg.CONF
CONF.register_opts(chunked_opts)
# Cinder's own options keep their names and meanings: operators' cinder.conf
# files keep working, and registering them again would collide.
CONF.import_opt('backup_compression_algorithm', 'cinder.backup.chunkeddriver')
CONF.import_opt('backup_sha_block_size_bytes', 'cinder.backup.drivers.posix')
CONF.import_opt('backup_file_size', 'cinder.backup.drivers.posix')
CONF.import_opt('backup_container', 'cinder.backup.drivers.posix')

# Statuses of a parent whose data stays as its incremental found it (a
# restore only reads it).
_PARENT_USABLE = (fields.BackupStatus.AVAILABLE,
                  fields.BackupStatus.RESTORING)

# How often, at most, a running operation reads its status from the DB.
STATUS_CHECK_SECONDS = 1.0

Settings = collections.namedtuple(
    'Settings', 'codec block_size object_size threads depth')


class _Cancelled(Exception):
    pass


class ChunkedBackupDriver(driver.BackupDriver, metaclass=abc.ABCMeta):
    """Verified, compressed, incremental backups into an ObjectStore."""

    def __init__(self, context):
        super().__init__(context)
        # Deleting a backup in progress stops it and cleans up.
        self.support_force_delete = True
        self._store = None
        # Once per process, before the first job allocates anything.
        memory.apply_threshold()

    @staticmethod
    def get_driver_options():
        return (chunked_opts + throttle.throttle_opts +
                io_priority.io_priority_opts + memory.memory_opts)

    @abc.abstractmethod
    def _create_store(self):
        """The ObjectStore this driver keeps backups in."""

    @property
    def store(self):
        if self._store is None:
            self._store = self._create_store()
        return self._store

    # --- configuration -------------------------------------------------

    @staticmethod
    def _codec():
        """backup_compression_algorithm as the operator set it; zstd when
        it was left at Cinder's default (zlib), which compresses about as
        well at a fraction of the CPU time."""
        location = CONF.get_location('backup_compression_algorithm')
        if location is None or location.location == cfg.Locations.opt_default:
            return codec.ZSTD
        return codec.canonical(CONF.backup_compression_algorithm)

    def _settings(self):
        try:
            codec_name = self._codec()
        except codec.CodecError:
            raise cinder_exception.InvalidConfigurationValue(
                option='backup_compression_algorithm',
                value=CONF.backup_compression_algorithm)
        except cfg.ConfigSourceValueError as error:
            # oslo.config refuses a value outside the option's choices
            # when it is read; the operator gets Cinder's error, naming
            # the option, not a bare oslo.config one.
            raise cinder_exception.InvalidConfigurationValue(
                option='backup_compression_algorithm',
                value=str(error).rpartition('is not valid: ')[2])
        block_size = CONF.backup_sha_block_size_bytes
        if block_size <= 0:
            raise cinder_exception.InvalidConfigurationValue(
                option='backup_sha_block_size_bytes', value=block_size)
        object_size = min(CONF.backup_object_size, CONF.backup_file_size)
        if object_size % block_size:
            option = ('backup_object_size'
                      if object_size == CONF.backup_object_size
                      else 'backup_file_size')
            LOG.error('%(option)s (%(value)d) must be a multiple of '
                      'backup_sha_block_size_bytes (%(block)d).',
                      {'option': option, 'value': object_size,
                       'block': block_size})
            raise cinder_exception.InvalidConfigurationValue(
                option=option, value=object_size)
        return Settings(codec_name, block_size, object_size,
                        CONF.backup_native_threads,
                        max(CONF.backup_pipeline_depth,
                            CONF.backup_native_threads))

    def check_for_setup_error(self):
        self._settings()

    # --- helpers ---------------------------------------------------------

    @staticmethod
    def _location(backup, keyring=None):
        """Where the backup is; with a keyring, also its cipher (fetching
        its key if it is encrypted)."""
        cipher = keyring.cipher(backup) if keyring else None
        return repository.BackupLocation(backup.container, backup.id, cipher)

    def _chain(self, backup):
        """The backup and its ancestors, newest first, from the DB."""
        def parent_of(member):
            if not member.parent_id:
                return None
            return objects.Backup.get_by_id(self.context, member.parent_id)
        try:
            return backup_chain.walk(backup, parent_of)
        except backup_chain.ChainError as error:
            raise cinder_exception.InvalidBackup(reason=str(error))

    def _status_checker(self, backup, should_stop, on_stop):
        """Return a callback that raises on_stop() once should_stop(status)
        holds for the backup; it reads the DB at most once a second."""
        last = [0.0]

        def check(_position):
            now = time.monotonic()
            if now - last[0] < STATUS_CHECK_SECONDS:
                return
            last[0] = now
            with backup.as_read_deleted():
                backup.refresh()
            if should_stop(backup.status):
                raise on_stop()
        return check

    @staticmethod
    def _being_deleted(backup):
        try:
            with backup.as_read_deleted():
                backup.refresh()
        except Exception:
            return False
        return backup.status in (fields.BackupStatus.DELETING,
                                 fields.BackupStatus.DELETED)

    @staticmethod
    def _storage_error(backup, action, error):
        return cinder_exception.BackupDriverException(
            reason=_('backup %(id)s: %(action)s failed: %(err)s')
            % {'id': backup.id, 'action': action, 'err': error})

    # --- backup ----------------------------------------------------------

    def _parent_view(self, backup, settings, workers, repo, keyring):
        parent = objects.Backup.get_by_id(self.context, backup.parent_id)
        if records.is_legacy(parent):
            raise cinder_exception.InvalidBackup(
                reason=_('parent backup %s was made by another driver; make '
                         'a full backup first') % parent.id)
        location = self._location(parent, keyring)
        parent_manifest = workers.call(repo.read_manifest, location)
        if parent_manifest.block_size != settings.block_size:
            raise cinder_exception.InvalidBackup(
                reason=_('backup_sha_block_size_bytes changed from %(old)d '
                         'to %(new)d since parent backup %(id)s; make a full '
                         'backup') % {'old': parent_manifest.block_size,
                                      'new': settings.block_size,
                                      'id': parent.id})
        chain_length = len(parent_manifest.chain)

        def load(segment):
            return workers.call(repo.read_index, location, segment,
                                chain_length, parent_manifest.block_size)
        return parent_view.ParentView(parent_manifest, load)

    def _fingerprint_secrets(self, backup, cipher, parent, keyring):
        """(owner, secret of the stored fingerprints, secret of the
        parent's): the owner is the ID of the backup whose key keys the
        fingerprints, the secrets are key bytes.

        Once a chain holds an encrypted backup its fingerprints stay keyed,
        with the key of the first encrypted member, so that no later plain
        index reveals hashes of encrypted blocks.
        """
        parent_owner = (parent.manifest.fingerprint_key_owner if parent
                        else None)
        parent_secret = None
        if parent_owner is not None:
            owner_record = objects.Backup.get_by_id(self.context,
                                                    parent_owner)
            owner_cipher = keyring.cipher(owner_record)
            if owner_cipher is None:
                raise cinder_exception.InvalidBackup(
                    reason=_('backup %s keys its fingerprints with a backup '
                             'that has no key') % parent.manifest.backup_id)
            parent_secret = owner_cipher.fingerprint_secret
            return parent_owner, parent_secret, parent_secret
        if cipher is not None:
            return backup.id, cipher.fingerprint_secret, None
        return None, None, None

    @staticmethod
    def _encryption(cipher):
        if cipher is None:
            return None
        return {'algorithm': crypto.ALGORITHM, 'key_id': cipher.key_id,
                'kdf': crypto.KDF}

    def backup(self, backup, volume_file, backup_metadata=True):
        """Back the volume up; incremental when backup.parent_id is set."""
        settings = self._settings()
        volume = self.db.volume_get(self.context, backup.volume_id)
        if volume['size'] <= 0:
            raise cinder_exception.InvalidVolume(
                reason=_('volume size %d is invalid.') % volume['size'])
        container = layout.validate_container(
            backup.container or CONF.backup_container or
            layout.DEFAULT_CONTAINER)
        layout.validate_backup_id(backup.id)
        repo = repository.Repository(self.store)
        keyring = keys.KeyRing(self.context)
        with concurrency.NativeWorkers(settings.threads) as workers:
            parent = (self._parent_view(backup, settings, workers, repo,
                                        keyring)
                      if backup.parent_id else None)
            location = repository.BackupLocation(
                container, backup.id, None, settings.object_size)
            try:
                # The share first: a backup that cannot be stored never
                # gets a key to leave behind in the key manager.  The
                # record says where the backup is before anything is
                # there, so that a delete after a crash finds it.
                self._record_location(backup, location)
                workers.call(repo.prepare, location)
                reservation = workers.call(repo.reserve_manifest, location)
                if CONF.backup_encryption_enabled:
                    location.cipher = keyring.new_cipher(backup.id)
                    self._record_location(backup, location)
                result = self._write_backup(
                    backup, volume, throttle.for_backup(volume_file, workers),
                    backup_metadata, settings, workers, repo, keyring,
                    location, parent, reservation)
            except Exception as error:
                self._discard(workers, repo, keyring, location)
                # A delete that runs while the backup is written removes
                # its files under it, so the writer may fail before it
                # sees the status: that is a cancellation too.
                if isinstance(error, _Cancelled) or \
                        self._being_deleted(backup):
                    LOG.info('Backup %s was cancelled; removed what it '
                             'wrote.', backup.id)
                    return
                if isinstance(error, volume_io.VolumeError):
                    raise cinder_exception.BackupDriverException(
                        reason=_('backup %(id)s: volume %(vol)s: %(err)s')
                        % {'id': backup.id, 'vol': backup.volume_id,
                           'err': error})
                if isinstance(error, (OSError, exception.StorageError)):
                    raise self._storage_error(backup, 'writing the backup',
                                              error)
                raise
        writer, size, count, elapsed, progress = result
        LOG.info('Backup %(id)s of %(size)d bytes done in %(sec).1f s '
                 '(%(rate).0f MiB/s): %(new)d bytes new, %(stored)d bytes '
                 'stored in %(count)d objects (%(codec)s%(enc)s).',
                 {'id': backup.id, 'size': size, 'sec': elapsed,
                  'rate': size / elapsed / units.Mi,
                  'new': writer.stats['new_bytes'],
                  'stored': writer.stats['stored_bytes'], 'count': count,
                  'codec': settings.codec,
                  'enc': ', encrypted' if location.cipher else ''})
        backup.object_count = count
        backup.save()
        progress.finish()

    def _write_backup(self, backup, volume, source, backup_metadata,
                      settings, workers, repo, keyring, location, parent,
                      reservation):
        owner, fingerprint_secret, parent_secret = (
            self._fingerprint_secrets(backup, location.cipher, parent,
                                      keyring))
        writer = backup_job.BackupWriter(
            repo, location, settings.codec, settings.block_size,
            settings.object_size, workers, settings.depth, parent,
            fingerprint_secret, parent_secret)
        progress = notifications.ProgressNotifier(
            self.context, backup, volume['size'] * units.Gi)
        # As in Cinder: deleting a backup in progress cancels it.
        checker = self._status_checker(
            backup, lambda status: status in (
                fields.BackupStatus.DELETING,
                fields.BackupStatus.DELETED), _Cancelled)
        started = time.monotonic()
        volume_bytes = source.size()
        allocation = self._allocation(backup, source, volume_bytes,
                                      settings)
        segments, size, count = writer.run(
            source, on_chunk=checker, on_progress=progress.update,
            allocation=allocation)
        self._check_whole(backup, source, volume_bytes, size)
        # The status is read at most once a second while the volume is
        # read; a delete that came in since (and may have removed files
        # under the writer, which recreates its directories) must not end
        # in a manifest: a complete-looking backup nobody will keep.
        if self._being_deleted(backup):
            raise _Cancelled()
        if parent is not None:
            self._check_parent_kept(backup)
        volume_meta = (self.get_metadata(backup.volume_id)
                       if backup_metadata else None)
        chain = [backup.id] + (parent.manifest.chain if parent else [])
        backup_manifest = manifest.Manifest(
            backup.id, backup.volume_id, chain,
            timeutils.utcnow().isoformat(), size, settings.block_size,
            settings.object_size, segments, volume_meta or None,
            dict(writer.stats), self._encryption(location.cipher), owner)
        # Through the placeholder made before the first object: a delete
        # that ran since, however late, removed it, and the write fails
        # instead of completing a backup whose objects are gone.
        workers.call(repo.write_manifest, location, backup_manifest,
                     reservation)
        elapsed = max(time.monotonic() - started, 1e-6)
        return writer, size, count, elapsed, progress

    def _check_parent_kept(self, backup):
        """The parent is still there to build on.

        Cinder's API checks that a backup has no incrementals before it
        deletes it, but not atomically with creating one: a parent deleted
        while its incremental is written would leave the incremental
        referring to objects that are gone.  Checked just before the
        manifest; a delete of the parent that starts later finds this
        backup's record (delete_backup) and refuses.
        """
        try:
            parent = objects.Backup.get_by_id(self.context, backup.parent_id)
        except cinder_exception.BackupNotFound:
            parent = None
        if parent is None or parent.status not in _PARENT_USABLE:
            raise cinder_exception.InvalidBackup(
                reason=_('parent backup %(id)s was %(what)s while this '
                         'incremental backup was written; nothing of it was '
                         'kept') % {'id': backup.parent_id,
                                    'what': 'deleted' if parent is None else
                                    'set to status %s' % parent.status})

    @staticmethod
    def _allocation(backup, source, volume_bytes, settings):
        """What a thin volume says it allocated, checked where it says
        there is nothing; None to read everything."""
        if not volume_bytes:
            return None
        allocation = source.allocation(volume_bytes)
        if allocation is None:
            return None
        # Only librbd's report is sampled: a regular file's holes are the
        # file system's own block map, which every read goes through, so
        # they cannot differ from what a read returns.
        suspect = source.first_data_in(
            allocation, CONF.backup_allocation_samples,
            settings.block_size) if allocation.needs_check else None
        if suspect is not None:
            raise volume_io.VolumeError(
                _('it reports the block at offset %d as never allocated, '
                  'but it holds data: a backup trusting the report would '
                  'lose it') % suspect)
        LOG.info('Backup %(id)s: volume %(vol)s has allocated %(used)d of '
                 '%(size)d bytes; only those are read.',
                 {'id': backup.id, 'vol': backup.volume_id,
                  'used': allocation.allocated_bytes, 'size': volume_bytes})
        return allocation

    @staticmethod
    def _check_whole(backup, source, volume_bytes, size):
        """The whole volume was read, and it did not shrink meanwhile (an
        RBD image resized or removed under the backup reads short)."""
        if volume_bytes is None:
            return
        now = source.size()
        if size != volume_bytes or now != volume_bytes:
            raise volume_io.VolumeError(
                _('it had %(had)d bytes when the backup started, %(read)d '
                  'were read and it has %(now)s now: it changed during the '
                  'backup') % {'had': volume_bytes, 'read': size,
                               'now': now})

    @staticmethod
    def _record_location(backup, location):
        """Its container and format (and key) in the backup's record."""
        backup.container = location.container
        backup.service_metadata = records.service_metadata(
            location.cipher.key_id if location.cipher else None)
        backup.save()

    def _discard(self, workers, repo, keyring, location):
        """Remove what a failed or cancelled backup wrote: data, then
        key."""
        try:
            workers.call(repo.delete, location)
        except Exception as error:
            LOG.warning('Could not remove the partial backup in %(dir)s: '
                        '%(err)s', {'dir': location.directory, 'err': error})
            return
        if location.cipher is not None:
            self._delete_key(location.backup_id, location.cipher.key_id)

    def _delete_key(self, backup_id, key_id):
        try:
            keys.delete_key(self.context, backup_id, key_id)
        except exception.BackupKeyError as error:
            # The data is gone; an orphaned key in Barbican is harmless but
            # worth the operator's attention.
            LOG.error('%s. Delete it in the key manager.', error)

    # --- restore ---------------------------------------------------------

    def read_chain_manifests(self, chain, workers, repo):
        """Every member's location and manifest, checked against the chain
        of records (newest first) from the database.  Each location knows
        the object size its member's manifest records, which reading its
        data objects takes.

        Restore calls it before any byte is written, so a missing key or a
        damaged manifest fails there; the operator tools (verify, mount)
        use it too.
        """
        keyring = keys.KeyRing(self.context)
        found = [self._location(member, keyring) for member in chain]
        manifests = [workers.call(repo.read_manifest, location)
                     for location in found]
        locations = [location.with_object_size(member_manifest.object_size)
                     for location, member_manifest in zip(found, manifests)]
        expected = [member.id for member in chain]
        for depth, member_manifest in enumerate(manifests):
            if member_manifest.chain != expected[depth:]:
                raise cinder_exception.InvalidBackup(
                    reason=_('backup %(id)s: the repository records the '
                             'chain %(stored)s, the database %(db)s')
                    % {'id': chain[depth].id,
                       'stored': member_manifest.chain,
                       'db': expected[depth:]})
        return locations, manifests

    def restore(self, backup, volume_id, volume_file, volume_is_new):
        """Restore the backup (and its chain) into volume_file."""
        settings = self._settings()
        chain = self._chain(backup)
        checker = self._status_checker(
            backup, lambda status: status != fields.BackupStatus.RESTORING,
            lambda: cinder_exception.BackupRestoreCancel(
                back_id=backup.id, vol_id=volume_id))
        checker(0)
        repo = repository.Repository(self.store)
        volume_bytes = self._volume_bytes(volume_id)
        with concurrency.NativeWorkers(settings.threads) as workers:
            try:
                if records.is_legacy(backup):
                    volume_meta = self._restore_legacy(
                        chain, workers, volume_file, volume_is_new, checker,
                        volume_bytes)
                else:
                    locations, manifests = self.read_chain_manifests(
                        chain, workers, repo)
                    self._check_fits(backup, manifests[0].size,
                                     volume_id, volume_bytes)
                    reader = restore_job.RestoreReader(
                        repo, locations, manifests[0], workers,
                        settings.depth,
                        repository.fingerprint_secret(locations, manifests[0]))
                    reader.run(throttle.for_restore(volume_file, workers),
                               volume_is_new, on_step=checker)
                    volume_meta = manifests[0].volume_meta
            except (OSError, exception.StorageError) as error:
                raise self._storage_error(backup, 'restoring', error)
        if volume_meta:
            try:
                self.put_metadata(volume_id, volume_meta)
            except cinder_exception.BackupMetadataUnsupportedVersion:
                raise cinder_exception.BackupOperationError(
                    _('Metadata restore failed due to incompatible '
                      'version.'))
            except (ValueError, TypeError, KeyError, AttributeError) as error:
                # The stored metadata is Cinder's JSON as the backup found
                # it; anything else was damaged on the share.  Cinder's
                # parser fails with plain Python errors on it.
                raise exception.BackupCorrupted(
                    backup_id=backup.id, object=_('volume metadata'),
                    reason=_('it is not Cinder\'s volume metadata: '
                             '%(type)s: %(err)s')
                    % {'type': type(error).__name__, 'err': error})
        LOG.info('Restore of backup %(id)s to volume %(vol)s done.',
                 {'id': backup.id, 'vol': volume_id})

    def _volume_bytes(self, volume_id):
        return self.db.volume_get(self.context, volume_id)['size'] * units.Gi

    @staticmethod
    def _check_fits(backup, size, volume_id, volume_bytes):
        """A manifest claiming more bytes than the target volume has
        (damaged, or written by someone who can write to the share) must
        not make the restore write past the volume's end."""
        if size > volume_bytes:
            raise exception.BackupCorrupted(
                backup_id=backup.id, object='manifest.json',
                reason=_('it describes %(size)d bytes, volume %(vol)s has '
                         '%(have)d') % {'size': size, 'vol': volume_id,
                                        'have': volume_bytes})

    def _restore_legacy(self, chain, workers, volume_file, volume_is_new,
                        checker, volume_bytes):
        if not all(records.is_legacy(member) for member in chain):
            raise cinder_exception.InvalidBackup(
                reason=_('backup %s mixes formats in its chain')
                % chain[0].id)
        # Cinder's objects can be gigabytes each: one at a time.
        reader = legacy.LegacyBackups(self.store, workers, 1)
        return reader.restore(chain,
                              throttle.for_restore(volume_file, workers),
                              volume_is_new,
                              on_step=checker, volume_bytes=volume_bytes)

    # --- delete, export, import ------------------------------------------

    def delete_backup(self, backup):
        """Delete the backup's objects; a backup that never wrote any is
        deleted at once."""
        self._refuse_with_children(backup)
        if not backup.container or not backup.service_metadata:
            LOG.info('Backup %s has no stored data to delete.', backup.id)
            return
        if records.is_legacy(backup):
            remove = legacy.LegacyBackups(self.store, None, 1).delete
            what = backup
        else:
            remove = repository.Repository(self.store).delete
            what = self._location(backup)
        try:
            # On a native thread: a hung share must not stop the service.
            with concurrency.NativeWorkers(1) as workers:
                workers.call(remove, what)
        except (OSError, exception.StorageError) as error:
            raise self._storage_error(backup, 'deleting', error)
        key_id = records.key_id(backup)
        if key_id is not None:
            self._delete_key(backup.id, key_id)
        LOG.info('Deleted backup %s.', backup.id)

    def _refuse_with_children(self, backup):
        """An incremental backup reads its parent's objects: a backup with
        records naming it as parent (not deleted, whatever their status)
        keeps its data.

        Cinder's API makes the same check, but a new incremental can be
        created between that check and this delete.  The record of an
        incremental exists before it writes anything, and it checks its
        parent again before its manifest (_check_parent_kept): one of the
        two always sees the other.
        """
        # Deleted records are no children, whatever the caller's context
        # reads.
        children = objects.BackupList.get_all(
            self.context.elevated(read_deleted='no'),
            filters={'parent_id': backup.id})
        if len(children):
            raise cinder_exception.InvalidBackup(
                reason=_('backup %(id)s has incremental backups that are '
                         'not deleted: %(children)s; delete them first')
                % {'id': backup.id,
                   'children': ', '.join(sorted(c.id for c in children))})

    def export_record(self, backup):
        # Cinder's manager calls import_record before it copies the
        # record's fields into the new row: what import needs travels here.
        return {'repository_format': manifest.VERSION
                if not records.is_legacy(backup) else legacy.VERSION,
                'container': backup.container,
                'service_metadata': backup.service_metadata}

    def import_record(self, backup, driver_info):
        """Accept the record only if its data is readable here."""
        imported = types.SimpleNamespace(
            id=backup.id,
            container=driver_info.get('container', backup.container),
            service_metadata=driver_info.get('service_metadata',
                                             backup.service_metadata))
        if not imported.service_metadata:
            # A record exported by another driver carries nothing to check.
            LOG.info('Backup record %s carries no location; imported '
                     'without checking its data.', backup.id)
            return
        if records.is_legacy(imported):
            check = legacy.LegacyBackups(self.store, None, 1).read_metadata
        else:
            check = repository.Repository(self.store).read_manifest
            imported = self._location(imported, keys.KeyRing(self.context))
        with concurrency.NativeWorkers(1) as workers:
            workers.call(check, imported)
