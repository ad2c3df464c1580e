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

"""Whether freed memory the size of an index goes back to the kernel.

Owns the backup_malloc_mmap_threshold option and the one mallopt call it
makes.  Knows nothing of backups.

glibc serves each native thread from an arena of its own (up to eight per
core), and by default it raises its mmap threshold to the size of the
largest block it has freed, up to 32 MiB: after the first segment index
(megabytes of JSON and fingerprints) is freed, every later one is carved
out of whichever arena the worker that decodes it uses, and stays there
once freed.  Under eventlet the workers are tpool's twenty threads, so
each arena in turn keeps an index's worth of free memory: a 64 GiB thin
volume's backup held about 100 MiB more than it used.  A fixed threshold
makes glibc map every block of at least that size on its own and unmap it
when it is freed, whichever thread freed it, and stops the threshold from
moving.  Object buffers are mapped by the jobs themselves (sealing.Scratch)
and are not affected.
"""

import ctypes
import ctypes.util
import os

from oslo_config import cfg
from oslo_log import log as logging

LOG = logging.getLogger(__name__)

# malloc.h
M_MMAP_THRESHOLD = -3
# glibc's own settings of the threshold in the environment: the
# operator's choice wins over the option.
ENVIRONMENT = 'MALLOC_MMAP_THRESHOLD_'
TUNABLE = 'glibc.malloc.mmap_threshold'

memory_opts = [
    cfg.IntOpt('backup_malloc_mmap_threshold',
               default=1024 * 1024,
               min=0,
               max=32 * 1024 * 1024,
               help='glibc mmap threshold (mallopt M_MMAP_THRESHOLD) that '
                    'the first backup or restore sets for the cinder-backup '
                    'process, in bytes: blocks of memory at least this big '
                    'are mapped on their own and given back to the kernel '
                    'as soon as they are freed, instead of being kept in '
                    'the per-thread arena of the native thread that freed '
                    'them. Segment indexes are megabytes each and are '
                    'handled by many threads, so without it the process '
                    'keeps tens of megabytes per thread. 0 leaves the '
                    'allocator as it is; so does a threshold set in the '
                    'environment (MALLOC_MMAP_THRESHOLD_, or '
                    'glibc.malloc.mmap_threshold in GLIBC_TUNABLES), and a '
                    'C library other than glibc.'),
]

CONF = cfg.CONF
CONF.register_opts(memory_opts)

_applied = False


def _mallopt():
    """glibc's mallopt, or None where the C library has none."""
    name = ctypes.util.find_library('c')
    if not name:
        return None
    try:
        function = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_int)
    function.restype = ctypes.c_int
    return function


def apply_threshold():
    """Set the process's mmap threshold once, as the option says; True if
    it was set now."""
    global _applied
    threshold = CONF.backup_malloc_mmap_threshold
    if _applied or not threshold:
        return False
    _applied = True
    if (ENVIRONMENT in os.environ or
            TUNABLE in os.environ.get('GLIBC_TUNABLES', '')):
        LOG.info('The environment sets the mmap threshold of glibc: the '
                 'allocator is left as it says.')
        return False
    mallopt = _mallopt()
    if mallopt is None or not mallopt(M_MMAP_THRESHOLD, threshold):
        LOG.info('The C library has no mallopt(M_MMAP_THRESHOLD): freed '
                 'memory stays with the allocator.')
        return False
    LOG.debug('glibc mmap threshold set to %d bytes.', threshold)
    return True
