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
setup checks), the dispatch of each to the engine and the errors Cinder
sees.  It knows nothing of files or mounts: a subclass provides the
ObjectStore.  The data paths live in backup_job, restore_job and legacy;
configuration in settings, key lifecycle in backup_keys, checks of parents
and children in lineage, cancellation in cancellation.
"""

import abc
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

from cinder_backup_ext.drivers import backup_keys
from cinder_backup_ext.drivers import cancellation
from cinder_backup_ext.drivers import lineage
from cinder_backup_ext.drivers import notifications
from cinder_backup_ext.drivers import settings as driver_settings
from cinder_backup_ext.engine import backup_job
from cinder_backup_ext.engine import parent as parent_view
from cinder_backup_ext.engine import restore_job
from cinder_backup_ext import exception
from cinder_backup_ext.i18n import _
from cinder_backup_ext.repository import layout
from cinder_backup_ext.repository import legacy
from cinder_backup_ext.repository import manifest
from cinder_backup_ext.repository import records
from cinder_backup_ext.repository import repository
from cinder_backup_ext.runtime import concurrency
from cinder_backup_ext.runtime import memory
from cinder_backup_ext.sealing import keys
from cinder_backup_ext.volume import io_priority
from cinder_backup_ext.volume import throttle
from cinder_backup_ext.volume import volume_io

LOG = logging.getLogger(__name__)

CONF = cfg.CONF


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
        return (driver_settings.chunked_opts + throttle.throttle_opts +
                io_priority.io_priority_opts + memory.memory_opts)

    @abc.abstractmethod
    def _create_store(self):
        """The ObjectStore this driver keeps backups in."""

    @property
    def store(self):
        if self._store is None:
            self._store = self._create_store()
        return self._store

    def check_for_setup_error(self):
        driver_settings.read()

    # --- helpers ---------------------------------------------------------

    @staticmethod
    def _storage_error(backup, action, error):
        return cinder_exception.BackupDriverException(
            reason=_('backup %(id)s: %(action)s failed: %(err)s')
            % {'id': backup.id, 'action': action, 'err': error})

    # --- backup ----------------------------------------------------------

    def _parent_view(self, backup, settings, workers, repo, keyring):
        parent = objects.Backup.get_by_id(self.context, backup.parent_id)
        lineage.check_parent_format(parent)
        location = repository.BackupLocation.of_record(parent, keyring)
        parent_manifest = workers.call(repo.read_manifest, location)
        lineage.check_parent_block_size(parent, parent_manifest,
                                        settings.block_size)
        chain_length = len(parent_manifest.chain)

        def load(segment):
            return workers.call(repo.read_index, location, segment,
                                chain_length, parent_manifest.block_size)
        return parent_view.ParentView(parent_manifest, load)

    def backup(self, backup, volume_file, backup_metadata=True):
        """Back the volume up; incremental when backup.parent_id is set."""
        settings = driver_settings.read()
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
                if isinstance(error, cancellation.Cancelled) or \
                        cancellation.being_deleted(backup):
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
            backup_keys.fingerprint_secrets(self.context, backup,
                                            location.cipher, parent, keyring))
        writer = backup_job.BackupWriter(
            repo, location, settings.codec, settings.block_size,
            settings.object_size, workers, settings.depth, parent,
            fingerprint_secret, parent_secret)
        progress = notifications.ProgressNotifier(
            self.context, backup, volume['size'] * units.Gi)
        checker = cancellation.backup_checker(backup)
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
        if cancellation.being_deleted(backup):
            raise cancellation.Cancelled()
        if parent is not None:
            lineage.check_parent_kept(self.context, backup)
        volume_meta = (self.get_metadata(backup.volume_id)
                       if backup_metadata else None)
        chain = [backup.id] + (parent.manifest.chain if parent else [])
        backup_manifest = manifest.Manifest(
            backup.id, backup.volume_id, chain,
            timeutils.utcnow().isoformat(), size, settings.block_size,
            settings.object_size, segments, volume_meta or None,
            dict(writer.stats), backup_keys.encryption(location.cipher), owner)
        # Through the placeholder made before the first object: a delete
        # that ran since, however late, removed it, and the write fails
        # instead of completing a backup whose objects are gone.
        workers.call(repo.write_manifest, location, backup_manifest,
                     reservation)
        elapsed = max(time.monotonic() - started, 1e-6)
        return writer, size, count, elapsed, progress

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
            backup_keys.delete_key(self.context, location.backup_id,
                                   location.cipher.key_id)

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
        found = [repository.BackupLocation.of_record(member, keyring)
                 for member in chain]
        manifests = [workers.call(repo.read_manifest, location)
                     for location in found]
        locations = [location.with_object_size(member_manifest.object_size)
                     for location, member_manifest in zip(found, manifests)]
        lineage.check_manifest_chains(chain, manifests)
        return locations, manifests

    def restore(self, backup, volume_id, volume_file, volume_is_new):
        """Restore the backup (and its chain) into volume_file."""
        settings = driver_settings.read()
        chain = lineage.chain(self.context, backup)
        checker = cancellation.status_checker(
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
        lineage.refuse_with_children(self.context, backup)
        if not backup.container or not backup.service_metadata:
            LOG.info('Backup %s has no stored data to delete.', backup.id)
            return
        if records.is_legacy(backup):
            remove = legacy.LegacyBackups(self.store, None, 1).delete
            what = backup
        else:
            remove = repository.Repository(self.store).delete
            what = repository.BackupLocation.of_record(backup)
        try:
            # On a native thread: a hung share must not stop the service.
            with concurrency.NativeWorkers(1) as workers:
                workers.call(remove, what)
        except (OSError, exception.StorageError) as error:
            raise self._storage_error(backup, 'deleting', error)
        key_id = records.key_id(backup)
        if key_id is not None:
            backup_keys.delete_key(self.context, backup.id, key_id)
        LOG.info('Deleted backup %s.', backup.id)

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
            imported = repository.BackupLocation.of_record(
                imported, keys.KeyRing(self.context))
        with concurrency.NativeWorkers(1) as workers:
            workers.call(check, imported)
