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

"""The Linux I/O priority of the threads that read a volume.

Owns the backup_io_priority option, the ioprio_set / ioprio_get system
calls, and running one read at a priority on whichever thread performs it.
Knows nothing of backups.  Runs on native threads too: nothing here logs
except report_failure(), which the operation's own thread calls.

An I/O priority belongs to one thread, not to the process (ioprio_set
with IOPRIO_WHO_PROCESS and 0 means the calling thread).  Under eventlet
the threads that read a volume are tpool's, shared by every operation of
the process and by anything else it proxies, so a priority is set for one
read and the thread's own priority put back after it: a restore or a store
write that runs on the same thread later is not slowed down.  Two system
calls per object read (megabytes) cost nothing measurable.
"""

import contextlib
import ctypes
import ctypes.util
import errno
import os
import platform

from oslo_config import cfg
from oslo_log import log as logging

LOG = logging.getLogger(__name__)

NONE = 'none'
BEST_EFFORT = 'best-effort'
IDLE = 'idle'

io_priority_opts = [
    cfg.StrOpt('backup_io_priority',
               default=NONE,
               choices=[
                   (NONE, 'Reads run at the priority cinder-backup has '
                          '(by default best-effort, level 4).'),
                   (BEST_EFFORT, 'Reads run in the best-effort class at '
                                 'its lowest level (7).'),
                   (IDLE, 'Reads run in the idle class: they get the '
                          'disk only when nothing else asks for it.'),
               ],
               help='Linux I/O priority (ioprio_set) of the reads of a '
                    'volume during a backup, so that guests and other '
                    'services using the same disks keep precedence. Only '
                    'the reads of the volume are lowered, for the time of '
                    'each read; writes to the backup store and restores '
                    'are not. Only I/O schedulers that honour priorities '
                    '(BFQ; CFQ on old kernels) act on it, and only for '
                    'reads that reach a local disk: it has no effect on '
                    'Ceph RBD or NFS volumes, which are read over the '
                    'network (use backup_read_bytes_per_second there). '
                    'idle can starve a backup for as long as the disk is '
                    'busy. Where the system call is refused (a container '
                    'without it, say) the backup runs at its usual '
                    'priority and a warning is logged once.'),
]

CONF = cfg.CONF
CONF.register_opts(io_priority_opts)

# include/uapi/linux/ioprio.h
IOPRIO_CLASS_NONE = 0
IOPRIO_CLASS_BE = 2
IOPRIO_CLASS_IDLE = 3
IOPRIO_WHO_PROCESS = 1
_CLASS_SHIFT = 13

# System call numbers differ between architectures; those not listed
# have no I/O priority here.
_SYSCALLS = {
    'x86_64': (251, 252),
    'amd64': (251, 252),
    'aarch64': (30, 31),
    'arm64': (30, 31),
}


def prio_value(io_class, data=0):
    """IOPRIO_PRIO_VALUE(class, data)."""
    return io_class << _CLASS_SHIFT | data


def prio_class(value):
    return value >> _CLASS_SHIFT


_PRIORITIES = {
    BEST_EFFORT: prio_value(IOPRIO_CLASS_BE, 7),
    IDLE: prio_value(IOPRIO_CLASS_IDLE, 0),
}


def priority_for(name):
    """The ioprio value of an option's choice; None for 'none'."""
    return _PRIORITIES.get(name)


_libc = None


def _syscall():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6',
                            use_errno=True)
    return _libc.syscall


def _numbers():
    numbers = _SYSCALLS.get(platform.machine().lower())
    if numbers is None:
        raise OSError(errno.ENOSYS, 'no ioprio system calls known on %s'
                      % platform.machine())
    return numbers


def set_io_priority(value):
    """ioprio_set(IOPRIO_WHO_PROCESS, 0, value): the calling thread's I/O
    priority.  OSError when the kernel refuses (EPERM, ENOSYS, EINVAL)."""
    result = _syscall()(_numbers()[0], IOPRIO_WHO_PROCESS, 0, value)
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, 'ioprio_set: %s' % os.strerror(code))


def get_io_priority():
    """ioprio_get(IOPRIO_WHO_PROCESS, 0): the calling thread's I/O
    priority."""
    result = _syscall()(_numbers()[1], IOPRIO_WHO_PROCESS, 0)
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, 'ioprio_get: %s' % os.strerror(code))
    return result


# The first refusal seen on any thread, for report_failure() to log on the
# operation's thread.  A plain assignment: native threads may set it.
_failure = None
_reported = False


@contextlib.contextmanager
def lowered(value):
    """Run the body with the calling thread's I/O priority at value, and
    put the thread's own priority back after it.

    value None leaves the priority alone.  A refusal is remembered (see
    report_failure) and the body runs at the usual priority: a priority is
    a courtesy to other users of the disk, not a reason to fail a backup.
    """
    global _failure
    if value is None:
        yield
        return
    try:
        previous = get_io_priority()
        set_io_priority(value)
    except OSError as error:
        _failure = _failure or error
        yield
        return
    try:
        yield
    finally:
        try:
            set_io_priority(previous)
        except OSError as error:
            _failure = _failure or error


def call_lowered(value, fn, *args):
    """fn(*args) at I/O priority value (see lowered)."""
    with lowered(value):
        return fn(*args)


def usable(value):
    """Whether this thread may take priority value; called on the
    operation's own thread before its reads (a system call that does not
    block).  Logs the first refusal of the process, here or remembered from
    a native thread, once."""
    if value is not None:
        with lowered(value):
            pass
    report_failure()
    return _failure is None


def report_failure():
    """Log, once per process, that priorities could not be set."""
    global _reported
    if _failure is not None and not _reported:
        _reported = True
        LOG.warning('backup_io_priority is set but this system refuses '
                    'ioprio_set (%(err)s): volumes are read at the usual '
                    'I/O priority.', {'err': _failure})
