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

from oslo_config import cfg

from tests.unit import driver_base as base


class CompressionDefaultTest(base.DriverTestCase):

    def _codec_of_index(self, backup):
        path = os.path.join(self.backup_dir(backup), 'manifest.json')
        with open(path) as manifest:
            # [number, offset, length, codec, size, stored, digest]
            return json.load(manifest)['segments'][0][3]

    def test_unset_option_means_zstd(self):
        # oslo.config keeps reporting an override's location after
        # clear_override, so the untouched state is what it reports for
        # an option nobody set.
        cfg.CONF.clear_override('backup_compression_algorithm')
        self.mock_object(cfg.CONF, 'get_location', return_value=cfg.
                         LocationInfo(cfg.Locations.opt_default, None))
        backup = self.run_backup(base.compressible_bytes(4 * base.OBJECT_SIZE,
                                                         seed=3))
        self.assertEqual('zstd', self._codec_of_index(backup))

    def test_operator_choice_is_kept(self):
        self.flags(backup_compression_algorithm='zlib')
        backup = self.run_backup(base.compressible_bytes(4 * base.OBJECT_SIZE,
                                                         seed=3))
        self.assertEqual('zlib', self._codec_of_index(backup))
