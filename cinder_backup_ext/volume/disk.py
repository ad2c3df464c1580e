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

"""Linux file and block-device calls that Python's os module lacks.

Owns punching a hole in a file (fallocate), zeroing a range of a block
device (BLKZEROOUT) and starting or waiting for the writeback of a range
(sync_file_range).  Plain functions on a file descriptor: each raises
OSError with the kernel's errno, and ENOSYS where the C library does not
have the call.  Knows nothing of volumes or backups.

They block on the disk: call them on a native thread, never the hub's.
They run there, so they do not log either.
"""

import ctypes
import ctypes.util
import errno
import fcntl
import os
import struct

# linux/falloc.h
FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
# linux/fs.h
SYNC_FILE_RANGE_WAIT_BEFORE = 1
SYNC_FILE_RANGE_WRITE = 2
SYNC_FILE_RANGE_WAIT_AFTER = 4
BLKZEROOUT = 0x127f            # _IO(0x12, 127)
# BLKZEROOUT refuses a range not aligned to this (EINVAL).
BLKZEROOUT_ALIGNMENT = 512

# What a file system, device or kernel answers for a call it does not
# support: the caller falls back to writing zeros (or to nothing).
UNSUPPORTED = frozenset((errno.EOPNOTSUPP, errno.ENOTTY, errno.EINVAL,
                         errno.ENOSYS))

_libc = None


def _function(name, *argtypes):
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6',
                            use_errno=True)
    try:
        function = getattr(_libc, name)
    except AttributeError:
        raise OSError(errno.ENOSYS, '%s: %s' % (name, os.strerror(
            errno.ENOSYS)))
    function.argtypes = argtypes
    function.restype = ctypes.c_int
    return function


def _check(result, name):
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, '%s: %s' % (name, os.strerror(code)))


def punch_hole(fd, offset, length):
    """Deallocate [offset, offset + length) of a regular file, which then
    reads as zeros; the file keeps its size."""
    # fallocate64: off_t is 64 bits whatever the C library's default.
    function = _function('fallocate64', ctypes.c_int, ctypes.c_int,
                         ctypes.c_int64, ctypes.c_int64)
    _check(function(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                    offset, length), 'fallocate')


def zero_out(fd, offset, length):
    """Zero [offset, offset + length) of a block device; the device may
    unmap it (a thin LV, an SSD) instead of writing zeros.  Both ends must
    be multiples of BLKZEROOUT_ALIGNMENT."""
    fcntl.ioctl(fd, BLKZEROOUT, struct.pack('QQ', offset, length))


def sync_file_range(fd, offset, nbytes, flags):
    """Start (SYNC_FILE_RANGE_WRITE) or wait for (with WAIT_BEFORE and
    WAIT_AFTER) the writeback of the dirty pages of a range.  It makes
    nothing durable by itself (no metadata, no disk cache flush): fsync
    does that."""
    function = _function('sync_file_range', ctypes.c_int, ctypes.c_int64,
                         ctypes.c_int64, ctypes.c_uint)
    _check(function(fd, offset, nbytes, flags), 'sync_file_range')


def start_writeback(fd, offset, nbytes):
    """Start writing back a range's dirty pages without waiting."""
    sync_file_range(fd, offset, nbytes, SYNC_FILE_RANGE_WRITE)


def wait_writeback(fd, offset, nbytes):
    """Write back a range's dirty pages and wait until they are on the
    device."""
    sync_file_range(fd, offset, nbytes,
                    SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                    SYNC_FILE_RANGE_WAIT_AFTER)
