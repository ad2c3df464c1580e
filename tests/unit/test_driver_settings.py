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

"""Which settings a backup is made with."""

import json
import os

from cinder.backup import chunkeddriver as cinder_chunked
from cinder.backup.drivers import posix as cinder_posix
from cinder import exception
from oslo_config import cfg

from cinder_backup_ext.drivers import chunked
from cinder_backup_ext.drivers import settings
from tests.unit import driver_base as base


class CompressionDefaultTest(base.DriverTestCase):
    """zstd unless the operator's cinder.conf names a codec.

    The driver tells "left at Cinder's default (zlib)" from "set to zlib"
    by where oslo.config found the value.  The tests' global CONF cannot
    show an unset option: the test base sets every option it uses with
    set_override, and oslo.config keeps reporting that location after
    clear_override.  So the engine reads a configuration of its own here,
    parsed from a real cinder.conf as cinder-backup parses it, with the
    same option objects.
    """

    def _codec_of_index(self, backup):
        path = os.path.join(self.backup_dir(backup), 'manifest.json')
        with open(path) as manifest:
            # [number, offset, length, codec, size, stored, digest]
            return json.load(manifest)['segments'][0][3]

    def use_config_file(self, *lines):
        """Parse a cinder.conf holding lines (and the test's sizes) into a
        fresh configuration, and let the engine read its options there."""
        path = os.path.join(self.tmp, 'cinder.conf')
        with open(path, 'w') as f:
            f.write('\n'.join(
                ['[DEFAULT]',
                 'backup_sha_block_size_bytes = %d' % base.BLOCK_SIZE,
                 'backup_file_size = %d' % base.OBJECT_SIZE,
                 'backup_object_size = %d' % base.OBJECT_SIZE] +
                list(lines)) + '\n')
        conf = cfg.ConfigOpts()
        conf.register_opts(cinder_chunked.backup_opts)
        conf.register_opts(cinder_posix.posixbackup_service_opts)
        conf.register_opts(settings.chunked_opts)
        conf(args=[], project='cinder', default_config_files=[path],
             use_env=False)
        self.mock_object(chunked, 'CONF', conf)
        self.mock_object(settings, 'CONF', conf)
        return conf

    def backup_codec(self):
        backup = self.run_backup(base.compressible_bytes(4 * base.OBJECT_SIZE,
                                                         seed=3))
        return self._codec_of_index(backup)

    def test_unset_option_means_zstd(self):
        conf = self.use_config_file()
        self.assertEqual(
            cfg.Locations.opt_default,
            conf.get_location('backup_compression_algorithm').location)
        self.make_driver().check_for_setup_error()
        self.assertEqual('zstd', self.backup_codec())

    def test_zlib_in_the_config_file_is_kept(self):
        # Cinder's default, but written down by the operator: their choice.
        conf = self.use_config_file('backup_compression_algorithm = zlib')
        self.assertEqual(
            cfg.Locations.user,
            conf.get_location('backup_compression_algorithm').location)
        self.assertEqual('zlib', self.backup_codec())

    def test_alias_in_the_config_file(self):
        self.use_config_file('backup_compression_algorithm = bzip2')
        self.assertEqual('bz2', self.backup_codec())

    # oslo.config itself refuses a value outside the option's choices
    # when it is read (ConfigFileValueError); the operator must get
    # Cinder's error naming the option and the value.
    def test_invalid_value_in_the_config_file(self):
        self.use_config_file('backup_compression_algorithm = lz4')
        for action in (self.make_driver().check_for_setup_error,
                       self.backup_codec):
            error = self.assertRaises(exception.InvalidConfigurationValue,
                                      action)
            self.assertIn('backup_compression_algorithm', str(error))
            self.assertIn('lz4', str(error))
        self.assertEqual([], [rel for rel in base.tree_files(self.repo)
                              if rel.endswith('manifest.json')])

    def test_operator_choice_is_kept(self):
        self.flags(backup_compression_algorithm='zlib')
        self.assertEqual('zlib', self.backup_codec())
