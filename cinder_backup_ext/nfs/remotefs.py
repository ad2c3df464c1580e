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

"""One NFS export reachable through several addresses.

Owns the parsing of backup_share, the mount point (derived from the export
path alone, so that every address and every backup host sees the same
paths), the order in which a host tries the addresses, and mounting and
unmounting through os-brick.  It knows nothing of backups or objects.
"""

import errno
import hashlib
import ipaddress
import os
import posixpath
import re

from os_brick.remotefs import remotefs

# Errors of a server that died, hung or lost our session in the middle of
# an operation.  A remount through another address can cure them; every
# other error (ENOENT, EACCES, ENOSPC, ...) would recur there too.
DEAD_SERVER_ERRNOS = frozenset(
    getattr(errno, name) for name in (
        'ESTALE', 'EIO', 'ETIMEDOUT', 'ENOTCONN', 'EHOSTDOWN',
        'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'ECONNREFUSED',
        'ECONNRESET', 'ECONNABORTED', 'EREMOTEIO', 'ENODEV')
    if hasattr(errno, name))

# RFC 1123 host names; IP addresses are checked by the ipaddress module.
_HOSTNAME = re.compile(
    r'^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?'
    r'(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$')


class ShareError(ValueError):
    """backup_share cannot be used as written."""


def is_dead_server_error(error):
    return isinstance(error, OSError) and error.errno in DEAD_SERVER_ERRNOS


class Address(object):
    """One way to reach the export: host (name, IPv4 or IPv6) and path."""

    def __init__(self, host, path):
        self.host = host
        self.path = path

    @property
    def share(self):
        """The address as mount(8) and os-brick take it."""
        host = '[%s]' % self.host if ':' in self.host else self.host
        return '%s:%s' % (host, self.path)

    def __eq__(self, other):
        return isinstance(other, Address) and \
            (self.host, self.path) == (other.host, other.path)

    def __hash__(self):
        return hash((self.host, self.path))

    def __repr__(self):
        return self.share

    __str__ = __repr__


def _parse_host(host, entry):
    if host.startswith('['):
        if not host.endswith(']'):
            raise ShareError('%r: unbalanced brackets' % entry)
        try:
            return str(ipaddress.IPv6Address(host[1:-1]))
        except ValueError:
            raise ShareError('%r: %s is not an IPv6 address'
                             % (entry, host[1:-1]))
    if ':' in host:
        raise ShareError('%r: write an IPv6 address in brackets, '
                         '"[addr]:/path"' % entry)
    try:
        return str(ipaddress.IPv4Address(host))
    except ValueError:
        pass
    if re.match(r'^[0-9.]+$', host) or not _HOSTNAME.match(host):
        raise ShareError('%r: %r is not a host name or address'
                         % (entry, host))
    return host.lower().rstrip('.')


def parse_address(entry):
    """Address from 'host:/path', 'ipv4:/path' or '[ipv6]:/path'."""
    entry = entry.strip()
    host, sep, path = entry.rpartition(':/')
    if not sep or not host:
        raise ShareError('%r is not of the form host:/path' % entry)
    path = posixpath.normpath('/' + path)
    # normpath keeps a leading '//' (POSIX allows it a meaning); NFS does
    # not give it one.
    path = '/' + path.lstrip('/')
    return Address(_parse_host(host, entry), path)


def parse_share(value):
    """The addresses listed in backup_share, in the order given.

    Several addresses must reach the same export: the same path.  A list
    naming different paths is almost certainly a mistake (two exports
    would split the repository), so it is refused here rather than found
    out at the first failover.
    """
    entries = [e for e in (value or '').split(',') if e.strip()]
    if not entries:
        raise ShareError('no address given')
    addresses = []
    for entry in entries:
        address = parse_address(entry)
        if address not in addresses:
            addresses.append(address)
    paths = sorted({a.path for a in addresses})
    if len(paths) > 1:
        raise ShareError('the addresses name different export paths (%s); '
                         'list addresses of one export only'
                         % ', '.join(paths))
    return addresses


def mount_point(base, export_path):
    """Where the export is mounted: base/<sha256 of the export path>.

    os-brick and Cinder hash 'address:/path'; hashing the path alone gives
    one mount point whatever address is in use, so a failover never moves
    the repository and every backup host uses the same path.
    """
    digest = hashlib.sha256(export_path.encode('utf-8')).hexdigest()
    return os.path.join(base, digest[:32])


def preferred_order(addresses, host):
    """The addresses in the order host tries them.

    Each host starts at a position derived from its name (stable across
    restarts, spread evenly over many hosts) and walks the list from
    there, so backup traffic spreads over the storage nodes.
    """
    if not addresses:
        return []
    digest = hashlib.sha256((host or '').encode('utf-8')).digest()
    start = int.from_bytes(digest[:8], 'big') % len(addresses)
    return addresses[start:] + addresses[:start]


class _ExportClient(remotefs.RemoteFsClient):
    """os-brick's NFS client with a mount point that ignores the address."""

    def __init__(self, root_helper, base, options, execute=None):
        super().__init__('nfs', root_helper, execute=execute,
                         nfs_mount_point_base=base,
                         nfs_mount_options=options)

    def get_mount_point(self, device_name):
        return mount_point(self._mount_base,
                           parse_address(device_name).path)

    def mounted_source(self, path):
        """The device mounted at path, or None."""
        return self._read_mounts().get(path)

    def unmount(self, path):
        # -f aborts requests to a server that stopped answering (for FUSE
        # it aborts the connection); if the mount is still busy, -l
        # detaches it so that the next mount can take its place while
        # stale file descriptors drain.
        for flags in (['-f'], ['-l']):
            try:
                self._execute('umount', *flags, path,
                              root_helper=self._root_helper,
                              run_as_root=True, check_exit_code=0)
            except Exception:
                if path not in self._read_mounts():
                    return
                continue
            if path not in self._read_mounts():
                return
        if path in self._read_mounts():
            raise OSError(errno.EBUSY, 'cannot unmount', path)


class ExportMounts(object):
    """Mounts the export through one address at a time at one path."""

    def __init__(self, addresses, base, options, root_helper, execute=None):
        self.addresses = list(addresses)
        self.base = base
        self.path = mount_point(base, self.addresses[0].path)
        self._client = _ExportClient(root_helper, base, options, execute)

    def current(self):
        """The address mounted now, or None."""
        source = self._client.mounted_source(self.path)
        if source is None:
            return None
        try:
            address = parse_address(source)
        except ShareError:
            return None
        return address if address in self.addresses else None

    def mount(self, address):
        """Mount address at self.path, replacing whatever is there."""
        if self._client.mounted_source(self.path) is not None:
            self._client.unmount(self.path)
        self._client.mount(address.share)

    def unmount(self):
        if self._client.mounted_source(self.path) is not None:
            self._client.unmount(self.path)

    def probe_client(self):
        """A client whose mount point is beside the main one, for looking
        at an address without disturbing the mount in use."""
        return ExportMounts(self.addresses,
                            os.path.join(self.base, 'probe'),
                            self._client._mount_options,
                            self._client._root_helper,
                            self._client._execute)
