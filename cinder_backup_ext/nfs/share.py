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

current() and is_current() run on native workers and only read state
under a short native lock.  recover() mounts, unmounts and logs: it runs
on the operation's own thread only (a FailoverStore hands the step back
to it), where os-brick's privsep calls and the host lock are safe.  The
share marker is read and written on a native thread (concurrency.
run_native), so that a hung server never blocks the event loop.
"""

import re
import time

from eventlet import patcher
from oslo_log import log as logging

from cinder_backup_ext import exception
from cinder_backup_ext.nfs import remotefs
from cinder_backup_ext.nfs import share_marker
from cinder_backup_ext.runtime import concurrency
from cinder_backup_ext.storage import posix as posix_store

LOG = logging.getLogger(__name__)

_native_threading = patcher.original('threading')
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
        # A context manager factory: the lock that keeps other operations
        # on this host from mounting at the same path at the same time.
        self._host_lock = host_lock
        self._retry_interval = retry_interval
        # Held only to read or swap the state below, never across I/O:
        # native workers take it too.
        self._lock = _native_threading.Lock()
        self._generation = 0
        self._store = None
        self._address = None
        self._given_up = None

    @property
    def address(self):
        return self._address

    # --- the Connection interface of FailoverStore -----------------------

    def current(self):
        with self._lock:
            if self._given_up is not None:
                raise self._given_up
            return self._generation, self._store

    def is_current(self, generation):
        with self._lock:
            return generation == self._generation

    @staticmethod
    def recoverable(error):
        return remotefs.is_dead_server_error(error)

    def recover(self, generation, error):
        """Connect, or fail over after error; on the operation's thread."""
        with self._lock:
            if self._given_up is not None:
                raise self._given_up
            if generation != self._generation or \
                    (error is None and self._store is not None):
                # Another step already (re)connected; just run again.
                return
            failed = self._address if error is not None else None
            # Steps still running get no store until the new mount is up,
            # and their results from the old one are run again.
            self._store = None
            self._generation += 1
        if failed is not None:
            LOG.warning('NFS share: I/O through %(addr)s failed (%(err)s); '
                        'failing over to the next address.',
                        {'addr': failed, 'err': error})
            self._connect(self.failover_order(self._order, failed), failed)
        else:
            self._connect(self._order, None)

    @staticmethod
    def failover_order(order, failed):
        """Addresses after the failed one first, the failed one last."""
        if failed not in order:
            return list(order)
        position = order.index(failed)
        return order[position + 1:] + order[:position] + [failed]

    # --- mounting ----------------------------------------------------------

    def _connect(self, order, failed):
        started = time.monotonic()
        errors = {}
        avoid = {failed} if failed is not None else set()
        for attempt in range(self._attempts):
            if attempt:
                time.sleep(min(
                    self._retry_interval * 2 ** (attempt - 1),
                    MAX_RETRY_INTERVAL))
            for address in order:
                used = None
                try:
                    used = self._mount_or_adopt(address, avoid)
                    self._check_identity(used)
                except exception.ShareMismatch as error:
                    self._give_up(error)
                    raise
                except Exception as error:
                    # A mount that failed is never adopted again by this
                    # operation: the next address gets a mount of its own.
                    bad = used or address
                    avoid.add(bad)
                    errors[bad] = error
                    LOG.warning('NFS share: cannot use %(addr)s (attempt '
                                '%(n)d of %(max)d): %(err)s',
                                {'addr': bad, 'n': attempt + 1,
                                 'max': self._attempts, 'err': error})
                    continue
                with self._lock:
                    self._address = used
                    self._store = posix_store.PosixStore(self._mounts.path)
                LOG.info('NFS share: using %(addr)s at %(path)s (%(what)s '
                         'in %(sec).1f s).',
                         {'addr': used, 'path': self._mounts.path,
                          'what': 'failover' if failed else 'mount',
                          'sec': time.monotonic() - started})
                return
        error = exception.ShareUnavailable(
            addresses=', '.join(str(a) for a in self._order),
            attempts=self._attempts,
            reason='; '.join('%s: %s' % (address, _short(error))
                             for address, error in errors.items()))
        LOG.error('%s', error.msg)
        self._give_up(error)
        raise error

    def _give_up(self, error):
        # Every later call of this operation fails at once with it.
        with self._lock:
            self._store = None
            self._given_up = error

    def _mount_or_adopt(self, address, avoid):
        """Make address the mounted one; the address now mounted.

        A mount made by another operation on this host is adopted unless
        it is one that failed this operation: unmounting a healthy mount
        would break that operation for nothing.
        """
        with self._host_lock():
            mounted = self._mounts.current()
            if mounted is not None and mounted not in avoid:
                return mounted
            self._mounts.mount(address)
        return address

    def _check_identity(self, address):
        root = self._mounts.path
        marker = concurrency.run_native(self._read_marker, address, root)
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
            marker = concurrency.run_native(share_marker.create_marker, root)
            LOG.info('NFS share: new repository %(uuid)s marked at '
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
                LOG.warning('NFS share: cannot check %(addr)s now (%(err)s); '
                            'it is checked when first used.',
                            {'addr': other, 'err': _short(error)})
                continue
            try:
                seen = concurrency.run_native(self._read_marker, other,
                                              probe.path)
            finally:
                with self._host_lock():
                    probe.unmount()
            if seen != marker:
                raise exception.ShareMismatch(detail=(
                    '%s shows %s, but %s shows %s' % (
                        address, marker, other,
                        seen or 'no share marker')))


# os-brick reports a failed NFS mount as one exception whose text holds the
# mount command's output for each NFS version it tried.
_MOUNT_STDERR = re.compile(r"Stderr: '(.*?)'")


def _short(error):
    """One line of an error: a failed mount's own message if it has one.

    Cinder keeps 255 characters of a backup's failure reason: the line an
    operator can act on (``mount.nfs: ...: connection refused``) must come
    first, not os-brick's wrapping.
    """
    stderr = (getattr(error, 'stderr', None) or '').strip()
    if stderr:
        text = stderr.splitlines()[-1]
    else:
        text = ' '.join(str(error).split())
        found = _MOUNT_STDERR.findall(text)
        if found:
            # The output's newlines come escaped, twice over.
            text = found[-1].replace('\\n', ' ').strip('\\ ')
    text = text or error.__class__.__name__
    return text if len(text) <= 300 else text[:297] + '...'
