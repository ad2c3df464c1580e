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

"""The driver's configuration: its options and the settings of one operation.

Owns chunked_opts (registered here, with Cinder's own options this library
reads imported beside them), the choice of codec and the Settings a backup
or restore runs with, checked against each other; a bad value is Cinder's
InvalidConfigurationValue naming the option.  It reads configuration only:
the driver classes (chunked, posix, nfs) import it, never the other way
round.
"""

import collections

from oslo_config import cfg
from oslo_log import log as logging
from oslo_utils import units

from cinder import exception as cinder_exception

from cinder_backup_ext.sealing import codec

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

Settings = collections.namedtuple(
    'Settings', 'codec block_size object_size threads depth')


def codec_name():
    """backup_compression_algorithm as the operator set it; zstd when it
    was left at Cinder's default (zlib), which compresses about as well at
    a fraction of the CPU time."""
    location = CONF.get_location('backup_compression_algorithm')
    if location is None or location.location == cfg.Locations.opt_default:
        return codec.ZSTD
    return codec.canonical(CONF.backup_compression_algorithm)


def read():
    """The Settings of one operation, from the configuration as it is now."""
    try:
        name = codec_name()
    except codec.CodecError:
        raise cinder_exception.InvalidConfigurationValue(
            option='backup_compression_algorithm',
            value=CONF.backup_compression_algorithm)
    except cfg.ConfigSourceValueError as error:
        # oslo.config refuses a value outside the option's choices when it
        # is read; the operator gets Cinder's error, naming the option,
        # not a bare oslo.config one.
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
    return Settings(name, block_size, object_size,
                    CONF.backup_native_threads,
                    max(CONF.backup_pipeline_depth,
                        CONF.backup_native_threads))
