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

"""Mount a backup read-only as one raw image file (FUSE).

Owns the FUSE file system: a directory holding ``<BACKUP_ID>.img``, the
backup's volume read on demand through cmd/image.BackupImage.  The operator
loop-mounts that file read-only and copies files out: file-level restore
without restoring the volume.  libfuse runs single-threaded in the
foreground and unmounts on exit and on SIGINT, SIGTERM or SIGHUP.

The image is a volume's decrypted data: it is served to the user who
mounts it only (mode 0400) unless the operator states otherwise, and the
kernel enforces the mode (FUSE default_permissions).
"""

import errno
import grp
import os
import stat
import sys
import time

from cinder_backup_ext.cmd import context as tool_context
from cinder_backup_ext.cmd import image

# What libfuse's fuse_main returns when its loop stopped with an error.
FUSE_LOOP_ENDED = 8

# The image holds a volume's plaintext: its owner reads it, nobody else,
# unless --mode says otherwise.  Only read bits: the file system is
# read-only and nothing in it is executable.
DEFAULT_MODE = 0o400
READ_BITS = 0o444

DESCRIPTION = (
    'Mount a backup read-only with FUSE at MOUNTPOINT, as one raw image '
    'file MOUNTPOINT/BACKUP_ID.img of the volume\'s size. Objects are read '
    'on demand, verified (BLAKE3, AES-GCM for encrypted backups) and '
    'decompressed, with a bounded cache; a damaged object makes that read '
    'fail with EIO and is logged. Loop-mount the image read-only (e.g. '
    'mount -o loop,ro MOUNTPOINT/BACKUP_ID.img /mnt/files) to copy files '
    'out. Runs in the foreground until unmounted (fusermount3 -u '
    'MOUNTPOINT) or stopped with SIGINT/SIGTERM, which unmount cleanly. '
    'Needs the mfusepy Python package and libfuse3 (Debian: fuse3). Exit '
    'codes: 0 unmounted cleanly, 1 the backup cannot be read or mounted, '
    '2 usage or configuration error.')


def add_arguments(parser):
    parser.add_argument('backup_id', metavar='BACKUP_ID')
    parser.add_argument('mountpoint', metavar='MOUNTPOINT',
                        help='an existing empty directory')
    parser.add_argument('--cache-objects', type=int, default=16,
                        metavar='N',
                        help='decoded objects kept in memory (each up to '
                             'backup_object_size, 8 MiB by default; '
                             'default: %(default)s)')
    parser.add_argument('--allow-other', action='store_true',
                        help='let users other than the one mounting reach '
                             'the file system (FUSE allow_other); the '
                             'kernel still enforces --mode, so they read '
                             'the image only if --mode gives them read '
                             'permission')
    parser.add_argument('--mode', type=parse_mode, default=DEFAULT_MODE,
                        metavar='MODE',
                        help='permissions of the image, octal read bits '
                             'only (e.g. 0440, 0444); group and other bits '
                             'need --allow-other (default: 0400, the '
                             'mounting user only)')
    parser.add_argument('--group', type=parse_group, default=None,
                        metavar='GROUP',
                        help='group owning the image, a name or a number '
                             '(default: the mounting user\'s group)')
    tool_context.add_config_argument(parser)


def parse_mode(text):
    import argparse
    try:
        mode = int(text, 8)
    except ValueError:
        raise argparse.ArgumentTypeError('%r is not an octal mode' % text)
    if mode & ~READ_BITS or not mode & 0o400:
        raise argparse.ArgumentTypeError(
            'mode %s: only read bits (0400, 0440, 0444, ...), and the '
            'owner\'s among them' % text)
    return mode


def parse_group(text):
    import argparse
    if text.isdigit():
        return int(text)
    try:
        return grp.getgrnam(text).gr_gid
    except KeyError:
        raise argparse.ArgumentTypeError('no group %r' % text)


def directory_mode(file_mode):
    """The root directory: searchable and listable by whoever may read
    the image, by nobody else."""
    return file_mode | (file_mode >> 2)


def fuse_options(backup_id, allow_other):
    """The options of the FUSE mount.  default_permissions makes the
    kernel check the modes getattr reports; without it a file system that
    others can reach (allow_other) would let every one of them read."""
    options = {'foreground': True, 'nothreads': True, 'ro': True,
               'default_permissions': True,
               'fsname': 'cinder-backup-ext:%s' % backup_id,
               'subtype': 'cinder-backup-ext'}
    if allow_other:
        options['allow_other'] = True
    return options


def make_operations(backup_image, file_name, log, mode=DEFAULT_MODE,
                    gid=None):
    import mfusepy

    path = '/' + file_name
    now = time.time()
    uid = os.getuid()
    gid = os.getgid() if gid is None else gid

    class BackupFS(mfusepy.Operations):
        def getattr(self, name, fh=None):
            if name == '/':
                return {'st_mode': stat.S_IFDIR | directory_mode(mode),
                        'st_nlink': 2,
                        'st_uid': uid, 'st_gid': gid, 'st_size': 0,
                        'st_mtime': now, 'st_atime': now, 'st_ctime': now}
            if name == path:
                return {'st_mode': stat.S_IFREG | mode, 'st_nlink': 1,
                        'st_uid': uid, 'st_gid': gid,
                        'st_size': backup_image.size, 'st_mtime': now,
                        'st_atime': now, 'st_ctime': now}
            raise mfusepy.FuseOSError(errno.ENOENT)

        def readdir(self, name, fh):
            if name != '/':
                raise mfusepy.FuseOSError(errno.ENOTDIR)
            return ['.', '..', file_name]

        def open(self, name, flags):
            if name != path:
                raise mfusepy.FuseOSError(errno.ENOENT)
            if flags & (os.O_WRONLY | os.O_RDWR):
                raise mfusepy.FuseOSError(errno.EROFS)
            return 0

        def read(self, name, size, offset, fh):
            try:
                return backup_image.read(offset, size)
            except Exception as error:
                # The reader sees EIO; the operator sees which object of
                # which backup and why.
                log('read of %d bytes at %d failed: %s'
                    % (size, offset, error))
                raise mfusepy.FuseOSError(errno.EIO)

        def statfs(self, name):
            return {'f_bsize': 4096, 'f_frsize': 4096,
                    'f_blocks': -(-backup_image.size // 4096),
                    'f_bfree': 0, 'f_bavail': 0, 'f_files': 1,
                    'f_ffree': 0, 'f_favail': 0, 'f_namemax': 255}

    return BackupFS()


def open_image(tools, backup, cache_objects):
    from cinder_backup_ext import exception
    from cinder_backup_ext.repository import records
    from cinder_backup_ext.repository import repository
    if records.is_legacy(backup) or not backup.service_metadata:
        raise tool_context.ToolError(
            'backup %s is not in format 2 (made by %s); restore it, or '
            'verify it with `verify`' % (backup.id, backup.service))
    from cinder import exception as cinder_exception
    chain = tools.chain(backup)
    try:
        # The restore's own first step: keys, manifests, MACs and chains.
        with tools.workers() as workers:
            locations, manifests = tools.driver.read_chain_manifests(
                chain, workers, tools.repo)
        key = repository.fingerprint_secret(locations, manifests[0])
    except (exception.BackupCorrupted, exception.BackupKeyError,
            cinder_exception.InvalidBackup) as error:
        raise tool_context.ToolError(str(error), tool_context.EXIT_PROBLEMS)
    return image.BackupImage(tools.repo, locations, manifests[0],
                             cache_objects=cache_objects,
                             fingerprint_secret=key)


def run(args):
    if args.cache_objects < 1:
        sys.stderr.write('mount: --cache-objects must be at least 1\n')
        return tool_context.EXIT_USAGE
    if not os.path.isdir(args.mountpoint):
        sys.stderr.write('mount: %s is not a directory\n' % args.mountpoint)
        return tool_context.EXIT_USAGE
    if args.mode & 0o044 and not args.allow_other:
        # Without allow_other FUSE turns away every other user: the mode
        # would promise what the mount does not give.
        sys.stderr.write('mount: --mode %04o lets others read; that needs '
                         '--allow-other\n' % args.mode)
        return tool_context.EXIT_USAGE

    def log(message):
        sys.stderr.write('mount: %s\n' % message)
        sys.stderr.flush()

    def body(tools):
        try:
            import mfusepy
        except (ImportError, OSError) as error:
            raise tool_context.ToolError(
                'FUSE is not available (%s): install the Python package '
                'mfusepy and libfuse3 (Debian: fuse3)' % error)
        backup = tools.backup(args.backup_id)
        backup_image = open_image(tools, backup, args.cache_objects)
        file_name = '%s.img' % backup.id
        options = fuse_options(backup.id, args.allow_other)
        log('%s mounted at %s with mode %04o; stop with fusermount3 -u %s '
            'or Ctrl-C' % (file_name, args.mountpoint, args.mode,
                           args.mountpoint))
        try:
            mfusepy.FUSE(make_operations(backup_image, file_name, log,
                                         args.mode, args.group),
                         args.mountpoint, **options)
        except RuntimeError as error:
            # libfuse's main returns 8 when its loop ended with an error,
            # and a signal (SIGINT, SIGTERM, SIGHUP) counts as one; it has
            # unmounted by then.  Anything else, or a mount left behind,
            # is a failure.
            if str(error) != str(FUSE_LOOP_ENDED) or \
                    os.path.ismount(args.mountpoint):
                raise tool_context.ToolError(
                    'FUSE mount at %s failed: libfuse error %s'
                    % (args.mountpoint, error), tool_context.EXIT_PROBLEMS)
            log('stopped by a signal')
        log('unmounted %s (%d objects read, %d cache hits)'
            % (args.mountpoint, backup_image.objects.misses,
               backup_image.objects.hits))
        return tool_context.EXIT_OK
    return tool_context.run_tool(args, body)
