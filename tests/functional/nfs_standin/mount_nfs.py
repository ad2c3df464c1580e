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

"""TEST-ONLY stand-in for the kernel NFS client: mount.nfs over FUSE.

This machine's kernel has no NFS client.  For the functional tests this
program plays /sbin/mount.nfs (bind-mounted over it inside a private mount
namespace only), so that os-brick's unchanged ``mount -t nfs`` call mounts
a real NFS server: a small FUSE file system whose every operation is an
NFSv4.1 call made by the userspace client nfs-rs.  It is never installed
and never used outside tests/functional.

Behaviour that matters to the tests, modelled on a soft kernel mount:
every NFS call gives up after timeo/10 x (retrans + 1) seconds and the
file system returns EIO, as a soft mount does when its server hangs.

Usage (as mount(8) calls helpers):
    mount_nfs.py HOST:/PATH MOUNTPOINT [-o OPTIONS] [-s -f -n -v]
The environment variable NFS_STANDIN_PIDDIR names a directory where each
FUSE server records its PID, so tests can stop leftovers by PID.
"""

import errno
import os
import select
import stat
import sys
import threading
import time

EXIT_USAGE = 1
EXIT_FAILURE = 32        # mount(8)'s "mount failure"
MOUNT_WAIT = 20          # seconds the parent waits for the FUSE mount
WRITE_SIZE = 1 << 20     # largest read or write the kernel passes on

# nfs-rs reports NFSv4 status names; the errno a kernel client would give.
_STATUS_ERRNO = {
    'NOENT': errno.ENOENT, 'EXIST': errno.EEXIST, 'NOTDIR': errno.ENOTDIR,
    'ISDIR': errno.EISDIR, 'NOTEMPTY': errno.ENOTEMPTY,
    'ACCESS': errno.EACCES, 'PERM': errno.EPERM, 'ROFS': errno.EROFS,
    'NOSPC': errno.ENOSPC, 'DQUOT': errno.EDQUOT, 'STALE': errno.ESTALE,
    'FBIG': errno.EFBIG, 'NAMETOOLONG': errno.ENAMETOOLONG,
    'INVAL': errno.EINVAL, 'XDEV': errno.EXDEV, 'MLINK': errno.EMLINK,
}


def parse_args(argv):
    positional, options = [], ''
    args = iter(argv)
    for arg in args:
        if arg == '-o':
            options = next(args, '')
        elif arg.startswith('-'):
            continue
        else:
            positional.append(arg)
    if len(positional) != 2:
        raise SystemExit('usage: mount.nfs HOST:/PATH MOUNTPOINT [-o OPTS]')
    spec, mountpoint = positional
    host, sep, path = spec.rpartition(':/')
    if not sep or not host:
        raise SystemExit('mount.nfs: %s: not host:/path' % spec)
    opts = {}
    for item in options.split(','):
        name, _sep, value = item.partition('=')
        if name:
            opts[name.strip()] = value.strip()
    return spec, host, '/' + path.strip('/'), mountpoint, opts


def to_errno(error):
    """The errno a kernel NFS client would report for an nfs-rs error."""
    import nfs_rs
    if isinstance(error, (FileNotFoundError, FileExistsError,
                          PermissionError, IsADirectoryError,
                          NotADirectoryError)) and error.errno:
        return error.errno
    name = (getattr(error, 'code_name', None) or '').upper()
    for status, number in _STATUS_ERRNO.items():
        if name.endswith(status):
            return number
    if isinstance(error, OSError) and error.errno and \
            not isinstance(error, (TimeoutError, ConnectionError)):
        return error.errno
    if isinstance(error, (nfs_rs.NfsError, TimeoutError, ConnectionError)):
        return errno.EIO
    return errno.EIO


def make_operations(client, export, ready):
    import mfusepy

    prefix = export.strip('/')

    def remote(path):
        path = path.strip('/')
        return '%s/%s' % (prefix, path) if path else prefix

    def nfs(fn):
        def call(self, *args):
            try:
                return fn(self, *args)
            except mfusepy.FuseOSError:
                raise
            except Exception as error:
                raise mfusepy.FuseOSError(to_errno(error))
        call.__name__ = fn.__name__
        return call

    class NfsOverFuse(mfusepy.Operations):
        use_ns = True

        def __init__(self):
            self.files = {}
            self.next_fh = 1
            self.handles_lock = threading.Lock()

        def init(self, path):
            ready()

        def _add(self, handle):
            with self.handles_lock:
                fh = self.next_fh
                self.next_fh += 1
                self.files[fh] = handle
            return fh

        @nfs
        def getattr(self, path, fh=None):
            info = client.stat(remote(path))
            kind = info.type.value
            mode = info.mode & 0o7777
            mode |= {'directory': stat.S_IFDIR,
                     'symlink': stat.S_IFLNK}.get(kind, stat.S_IFREG)
            return {'st_mode': mode, 'st_nlink': info.nlink,
                    'st_uid': info.uid, 'st_gid': info.gid,
                    'st_size': info.size, 'st_atime': info.atime,
                    'st_mtime': info.mtime, 'st_ctime': info.ctime,
                    'st_ino': info.fileid,
                    'st_blocks': (info.used + 511) // 512}

        @nfs
        def readdir(self, path, fh):
            return ['.', '..'] + client.listdir(remote(path))

        @nfs
        def mkdir(self, path, mode):
            client.mkdir(remote(path), mode & 0o7777)
            return 0

        @nfs
        def rmdir(self, path):
            client.rmdir(remote(path))
            return 0

        @nfs
        def unlink(self, path):
            client.unlink(remote(path))
            return 0

        @nfs
        def rename(self, old, new):
            client.rename(remote(old), remote(new))
            return 0

        @nfs
        def link(self, target, source):
            client.link(remote(source), remote(target))
            return 0

        @nfs
        def chmod(self, path, mode):
            client.chmod(remote(path), mode & 0o7777)
            return 0

        @nfs
        def chown(self, path, uid, gid):
            client.chown(remote(path), uid, gid)
            return 0

        def utimens(self, path, times=None):
            return 0

        @nfs
        def truncate(self, path, length, fh=None):
            client.truncate(remote(path), length)
            return 0

        @nfs
        def create(self, path, mode, fi=None):
            if client.exists(remote(path)):
                raise mfusepy.FuseOSError(errno.EEXIST)
            handle = client.open(remote(path), 'w+b')
            client.chmod(remote(path), mode & 0o7777)
            return self._add(handle)

        @nfs
        def open(self, path, flags):
            writable = flags & (os.O_WRONLY | os.O_RDWR)
            return self._add(client.open(remote(path),
                                         'r+b' if writable else 'rb'))

        @nfs
        def read(self, path, size, offset, fh):
            return self.files[fh].read_at(offset, size)

        @nfs
        def write(self, path, data, offset, fh):
            return self.files[fh].write_at(bytes(data), offset)

        @nfs
        def flush(self, path, fh):
            return 0

        @nfs
        def fsync(self, path, datasync, fh):
            # nfs-rs writes are durable when write_at returns.
            return 0

        def release(self, path, fh):
            with self.handles_lock:
                handle = self.files.pop(fh, None)
            if handle is not None:
                try:
                    handle.close()
                except Exception:
                    pass
            return 0

        def statfs(self, path):
            # fs_stat on ganesha's pseudo root reports zeros: a file system
            # that looks full would make callers refuse to write.
            return {'f_bsize': 4096, 'f_frsize': 4096,
                    'f_blocks': 1 << 24, 'f_bfree': 1 << 23,
                    'f_bavail': 1 << 23, 'f_files': 1 << 20,
                    'f_ffree': 1 << 19, 'f_favail': 1 << 19,
                    'f_namemax': 255}

    return NfsOverFuse()


def serve(spec, host, export, mountpoint, opts, report):
    """Child: connect, check the export, then run FUSE until unmounted."""
    import mfusepy
    import nfs_rs

    timeo = float(opts.get('timeo', 600)) / 10.0
    timeout = timeo * (int(opts.get('retrans', 2)) + 1)
    server = '[%s]' % host.strip('[]') if ':' in host else host
    try:
        client = nfs_rs.Client.connect(
            'nfs://%s/?version=4.1' % server,
            connect_timeout=timeout, operation_timeout=timeout)
        # ganesha refuses a LOOKUP of "." on an export: connect to the
        # pseudo root and address the export by its path.
        info = client.stat(export.strip('/'))
        if info.type.value != 'directory':
            raise NotADirectoryError(export)
    except Exception as error:
        report('mount.nfs: %s: %s' % (spec, error))
        return EXIT_FAILURE
    piddir = os.environ.get('NFS_STANDIN_PIDDIR')
    if piddir:
        with open(os.path.join(piddir, '%d.pid' % os.getpid()), 'w') as f:
            f.write('%s %s\n' % (spec, mountpoint))
    pidfile = os.path.join(piddir, '%d.pid' % os.getpid()) if piddir \
        else None
    operations = make_operations(client, export, lambda: report('ok'))
    # Without big_writes libfuse 2 passes writes on in 4 KiB pieces, each
    # a synchronous NFS WRITE here, where a kernel client sends up to
    # wsize; libfuse 3 writes big by default and takes no such options.
    sizes = {}
    if mfusepy.fuse_version_major == 2:
        sizes = {'big_writes': True, 'max_write': WRITE_SIZE}
    try:
        mfusepy.FUSE(operations, mountpoint, foreground=True,
                     nothreads=False, fsname=spec, subtype='nfs',
                     attr_timeout=0, entry_timeout=0, negative_timeout=0,
                     **sizes)
    finally:
        if pidfile:
            try:
                os.unlink(pidfile)
            except OSError:
                pass
    return 0


def main(argv):
    spec, host, export, mountpoint, opts = parse_args(argv)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        os.setsid()
        log = os.environ.get('NFS_STANDIN_LOG', os.devnull)
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(fd, 1)
        os.dup2(fd, 2)

        def report(text):
            try:
                os.write(write_end, text.encode() + b'\n')
            except OSError:
                pass
        status = EXIT_FAILURE
        try:
            status = serve(spec, host, export, mountpoint, opts, report)
        finally:
            os._exit(status)
    os.close(write_end)
    deadline = time.monotonic() + MOUNT_WAIT
    message = b''
    while time.monotonic() < deadline and b'\n' not in message:
        ready, _, _ = select.select([read_end], [], [], 0.5)
        if ready:
            chunk = os.read(read_end, 4096)
            if not chunk:
                break
            message += chunk
    text = message.decode(errors='replace').strip()
    if text == 'ok':
        return 0
    sys.stderr.write((text or 'mount.nfs: %s: no answer from the '
                      'stand-in client' % spec) + '\n')
    try:
        os.kill(pid, 9)
    except ProcessLookupError:
        pass
    return EXIT_FAILURE


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
