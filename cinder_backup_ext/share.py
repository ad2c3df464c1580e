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

"""The connection of one driver operation to a multi-address NFS share.

Owns which address is mounted, failing over to the next one, giving up,
and checking that every address reaches the same repository (the share
marker).  It is the Connection a FailoverStore asks for the current
PosixStore; it knows nothing of backups.

recover() runs on the engine's native threads, where logging can deadlock
under eventlet: messages are queued there and written by flush_log() from
the driver's own thread.
"""

from eventlet import patcher
from oslo_log import log as logging

from cinder_backup_ext import exception
from cinder_backup_ext import remotefs
from cinder_backup_ext import share_marker
from cinder_backup_ext.storage import posix as posix_store

LOG = logging.getLogger(__name__)

_native_threading = patcher.original('threading')
_native_time = patcher.original('time')
_MAIN_THREAD = _native_threading.main_thread().ident
# Pause between rounds over all addresses; doubles each round.
RETRY_INTERVAL = 1.0
MAX_RETRY_INTERVAL = 10.0

# The repository each mount point showed in this process: (address,
# Marker).  Every later address must show the same one.
_identities = {}
_identities_lock = _native_threading.Lock()


def forget_identities():
    """Forget the repositories seen (tests start each case afresh)."""
    with _identities_lock:
        _identities.clear()


class ShareConnection(object):
    """Mount on first use; on a dead-server error, remount elsewhere."""

    def __init__(self, mounts, order, attempts, host_lock,
                 retry_interval=RETRY_INTERVAL):
        self._mounts = mounts
        # Identities are remembered per mount point: one per export.
        self._identity_key = mounts.path
        self._order = list(order)
        self._attempts = attempts
        # A context manager factory: the lock (Cinder's coordination) that
        # keeps other operations on this host from mounting at the same
        # path at the same time.
        self._host_lock = host_lock
        self._retry_interval = retry_interval
        self._lock = _native_threading.RLock()
        self._generation = 0
        self._store = None
        self._address = None
        self._given_up = None
        self._log_queue = []

    @property
    def address(self):
        return self._address

    # --- logging that is safe on native threads --------------------------

    def _log(self, level, message, args):
        if _native_threading.get_ident() == _MAIN_THREAD or \
                not patcher.is_monkey_patched('thread'):
            LOG.log(level, message, args)
        else:
            with self._lock:
                self._log_queue.append((level, message, args))

    def flush_log(self):
        with self._lock:
            queued, self._log_queue = self._log_queue, []
        for level, message, args in queued:
            LOG.log(level, message, args)

    # --- the Connection interface of FailoverStore -----------------------

    def current(self):
        with self._lock:
            if self._given_up is not None:
                raise self._given_up
            if self._store is None:
                self._connect(self._order, failed=None)
            return self._generation, self._store

    @staticmethod
    def recoverable(error):
        return remotefs.is_dead_server_error(error)

    def recover(self, generation, error):
        with self._lock:
            if self._given_up is not None:
                raise self._given_up
            if generation != self._generation:
                # Another thread already failed over; just retry.
                return
            failed = self._address
            self._log(logging.WARNING,
                      'NFS share: I/O through %(addr)s failed (%(err)s); '
                      'failing over to the next address.',
                      {'addr': failed, 'err': error})
            self._connect(self.failover_order(self._order, failed), failed)

    @staticmethod
    def failover_order(order, failed):
        """Addresses after the failed one first, the failed one last."""
        if failed not in order:
            return list(order)
        position = order.index(failed)
        return order[position + 1:] + order[:position] + [failed]

    # --- mounting ----------------------------------------------------------

    def _connect(self, order, failed):
        started = _native_time.monotonic()
        errors = {}
        for attempt in range(self._attempts):
            if attempt:
                _native_time.sleep(min(
                    self._retry_interval * 2 ** (attempt - 1),
                    MAX_RETRY_INTERVAL))
            for address in order:
                try:
                    used = self._use(address, failed)
                except exception.ShareMismatch as error:
                    self._given_up = error
                    raise
                except Exception as error:
                    errors[address] = error
                    self._log(logging.WARNING,
                              'NFS share: cannot use %(addr)s (attempt '
                              '%(n)d of %(max)d): %(err)s',
                              {'addr': address, 'n': attempt + 1,
                               'max': self._attempts, 'err': error})
                    continue
                self._address = used
                self._generation += 1
                self._store = posix_store.PosixStore(self._mounts.path)
                self._log(logging.INFO,
                          'NFS share: using %(addr)s at %(path)s (%(what)s '
                          'in %(sec).1f s).',
                          {'addr': used, 'path': self._mounts.path,
                           'what': 'failover' if failed else 'mount',
                           'sec': _native_time.monotonic() - started})
                return
        self._store = None
        self._given_up = exception.ShareUnavailable(
            addresses=', '.join(str(a) for a in self._order),
            attempts=self._attempts,
            reason='; '.join('%s: %s' % (address, _short(error))
                             for address, error in errors.items()))
        self._log(logging.ERROR, '%s', self._given_up.msg)
        raise self._given_up

    def _use(self, address, failed):
        """Make address the mounted one and check it shows our repository.

        A mount made by another operation on this host is adopted unless
        it is the address that just failed: unmounting a healthy mount
        would break that operation for nothing.
        """
        with self._host_lock():
            mounted = self._mounts.current()
            if mounted is not None and mounted != failed:
                address = mounted
            else:
                self._mounts.mount(address)
        self._check_identity(address)
        return address

    def _check_identity(self, address):
        root = self._mounts.path
        marker = self._read_marker(address, root)
        with _identities_lock:
            known = _identities.get(self._identity_key)
        if known is not None:
            known_address, known_marker = known
            if marker != known_marker:
                raise exception.ShareMismatch(detail=(
                    '%s shows %s, but %s showed %s' % (
                        address, marker or 'no share marker',
                        known_address, known_marker)))
            return
        if marker is None:
            marker = share_marker.create_marker(root)
            self._log(logging.INFO,
                      'NFS share: new repository %(uuid)s marked at '
                      '%(addr)s.',
                      {'uuid': marker.repository_uuid, 'addr': address})
        self._check_other_addresses(address, marker)
        with _identities_lock:
            _identities.setdefault(self._identity_key, (address, marker))

    @staticmethod
    def _read_marker(address, root):
        try:
            return share_marker.read_marker(root)
        except share_marker.MarkerError as error:
            raise exception.ShareMismatch(
                detail='%s: %s' % (address, error))

    def _check_other_addresses(self, address, marker):
        """Look at every other address once per process.

        An address that cannot be mounted now is checked when a failover
        first uses it.
        """
        probe = self._mounts.probe_client()
        for other in self._order:
            if other == address:
                continue
            try:
                with self._host_lock():
                    probe.mount(other)
            except Exception as error:
                self._log(logging.WARNING,
                          'NFS share: cannot check %(addr)s now (%(err)s); '
                          'it is checked when first used.',
                          {'addr': other, 'err': _short(error)})
                continue
            try:
                seen = self._read_marker(other, probe.path)
            finally:
                with self._host_lock():
                    probe.unmount()
            if seen != marker:
                raise exception.ShareMismatch(detail=(
                    '%s shows %s, but %s shows %s' % (
                        address, marker, other,
                        seen or 'no share marker')))


def _short(error):
    """One line of an error: a failed mount's own message if it has one."""
    stderr = (getattr(error, 'stderr', None) or '').strip()
    text = stderr.splitlines()[-1] if stderr else ' '.join(str(error).split())
    text = text or error.__class__.__name__
    return text if len(text) <= 300 else text[:297] + '...'
