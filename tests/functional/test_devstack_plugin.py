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

"""The devstack plugin's phases, run by bash against stand-ins of
devstack's functions on a temporary cinder.conf.

The stand-ins behave like devstack's for what the plugin uses: iniset
edits the file, is_service_enabled reads ENABLED_SERVICES, die exits
non-zero; setup_develop and sudo record what they were asked to do.
"""

import configparser
import os
import subprocess
import sys

import fixtures
import testtools

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
DEVSTACK_DIR = os.path.join(REPO_ROOT, 'devstack')

STUBS = r'''
set -o errexit -o nounset -o pipefail
CALLS=$WORK/calls.log
define_plugin() { echo "define_plugin $*" >> "$CALLS"; }
plugin_requires() { echo "plugin_requires $*" >> "$CALLS"; }
echo_summary() { echo "summary: $*"; }
die() { shift; echo "die: $*" >&2; exit 1; }
is_service_enabled() {
    local service
    for service in "$@"; do
        [[ ",$ENABLED_SERVICES," == *",$service,"* ]] && return 0
    done
    return 1
}
bool_from_string() { [[ "${1,,}" =~ ^(true|yes|on|1)$ ]]; }
setup_develop() { echo "setup_develop $*" >> "$CALLS"; }
sudo() { echo "sudo $*" >> "$CALLS"; "$@"; }
iniset() {
    "$PYTHON" - "$@" <<'PY'
import configparser, sys
path, section, option, value = sys.argv[1:5]
parser = configparser.RawConfigParser()
parser.read(path)
if section != 'DEFAULT' and not parser.has_section(section):
    parser.add_section(section)
parser.set(section, option, value)
with open(path, 'w') as f:
    parser.write(f)
PY
}
source "$DEVSTACK_DIR/settings"
source "$DEVSTACK_DIR/plugin.sh" "$MODE" "$PHASE"
'''


class DevstackPluginTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.work = self.useFixture(fixtures.TempDir()).path
        self.conf = os.path.join(self.work, 'cinder.conf')
        with open(self.conf, 'w') as f:
            # What lib/cinder wrote before the plugin's post-config.
            f.write('[DEFAULT]\nbackup_driver = '
                    'cinder.backup.drivers.swift.SwiftBackupDriver\n'
                    'debug = True\n[database]\nconnection = sqlite://\n')
        self.tempest_conf = os.path.join(self.work, 'tempest.conf')
        open(self.tempest_conf, 'w').close()

    def run_phase(self, mode, phase='', services='c-api,c-vol,c-bak',
                  expect_status=0, **settings):
        env = {
            'PATH': os.environ['PATH'], 'PYTHON': sys.executable,
            'WORK': self.work, 'DEVSTACK_DIR': DEVSTACK_DIR,
            'MODE': mode, 'PHASE': phase, 'ENABLED_SERVICES': services,
            'DEST': '/opt/stack', 'DATA_DIR': os.path.join(self.work, 'data'),
            'STACK_USER': 'root' if os.getuid() == 0 else
            os.environ.get('USER', str(os.getuid())),
            'CINDER_CONF': self.conf, 'TEMPEST_CONFIG': self.tempest_conf,
        }
        env.update(settings)
        proc = subprocess.run(['bash', '-c', STUBS], env=env,
                              stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=60)
        output = (proc.stdout + proc.stderr).decode(errors='replace')
        self.assertEqual(expect_status, proc.returncode, output)
        return output

    def cinder_conf(self):
        parser = configparser.RawConfigParser()
        parser.read(self.conf)
        return parser

    def calls(self):
        path = os.path.join(self.work, 'calls.log')
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return f.read().splitlines()

    def test_settings_define_the_plugin(self):
        self.run_phase('stack', 'pre-install')
        self.assertIn('define_plugin cinder-backup-ext', self.calls())
        self.assertIn('plugin_requires cinder-backup-ext cinder',
                      self.calls())

    def test_install_installs_the_checkout(self):
        self.run_phase('stack', 'install')
        self.assertIn('setup_develop /opt/stack/cinder-backup-ext',
                      self.calls())

    def test_post_config_posix(self):
        self.run_phase('stack', 'post-config')
        conf = self.cinder_conf()
        repo = os.path.join(self.work, 'data', 'cinder-backup-ext')
        self.assertEqual('cinder_backup_ext.drivers.posix.PosixBackupDriver',
                         conf.get('DEFAULT', 'backup_driver'))
        self.assertEqual(repo, conf.get('DEFAULT', 'backup_posix_path'))
        self.assertEqual('zstd',
                         conf.get('DEFAULT', 'backup_compression_algorithm'))
        self.assertFalse(conf.has_option('DEFAULT',
                                         'backup_encryption_enabled'))
        # What lib/cinder wrote is kept.
        self.assertEqual('True', conf.get('DEFAULT', 'debug'))
        self.assertEqual('sqlite://', conf.get('database', 'connection'))
        self.assertTrue(os.path.isdir(repo))
        self.assertEqual(0o770, os.stat(repo).st_mode & 0o777)

    def test_post_config_nfs_with_options(self):
        self.run_phase(
            'stack', 'post-config', CINDER_BACKUP_EXT_DRIVER='nfs',
            CINDER_BACKUP_EXT_NFS_SHARE='127.0.0.1,127.0.0.2:/backups',
            CINDER_BACKUP_EXT_NFS_MOUNT_OPTIONS='vers=4.1,timeo=30',
            CINDER_BACKUP_EXT_COMPRESSION='zlib',
            CINDER_BACKUP_EXT_ENCRYPTION='True',
            CINDER_BACKUP_EXT_OPTIONS='backup_native_threads=4 '
                                      'backup_pipeline_depth=8')
        defaults = dict(self.cinder_conf().items('DEFAULT'))
        self.assertEqual('cinder_backup_ext.drivers.nfs.NFSBackupDriver',
                         defaults['backup_driver'])
        self.assertEqual('127.0.0.1,127.0.0.2:/backups',
                         defaults['backup_share'])
        self.assertEqual('vers=4.1,timeo=30',
                         defaults['backup_mount_options'])
        self.assertEqual(os.path.join(self.work, 'data',
                                      'cinder-backup-ext-mnt'),
                         defaults['backup_mount_point_base'])
        self.assertEqual('zlib', defaults['backup_compression_algorithm'])
        self.assertEqual('True', defaults['backup_encryption_enabled'])
        self.assertEqual('4', defaults['backup_native_threads'])
        self.assertEqual('8', defaults['backup_pipeline_depth'])
        self.assertNotIn('backup_posix_path', defaults)

    def test_production_shape_with_barbican_and_etcd(self):
        self.run_phase(
            'stack', 'post-config',
            services='c-api,c-vol,c-bak,barbican-svc,etcd3',
            CINDER_BACKUP_EXT_DRIVER='nfs',
            CINDER_BACKUP_EXT_NFS_SHARE='10.0.0.1:/backups,10.0.0.2:/backups',
            SERVICE_HOST='192.0.2.10', ETCD_PORT='2379')
        conf = self.cinder_conf()
        self.assertEqual('cinder_backup_ext.drivers.nfs.NFSBackupDriver',
                         conf.get('DEFAULT', 'backup_driver'))
        self.assertEqual('10.0.0.1:/backups,10.0.0.2:/backups',
                         conf.get('DEFAULT', 'backup_share'))
        self.assertEqual('True',
                         conf.get('DEFAULT', 'backup_encryption_enabled'))
        self.assertEqual('barbican', conf.get('key_manager', 'backend'))
        self.assertEqual('etcd3+http://192.0.2.10:2379?api_version=v3',
                         conf.get('coordination', 'backend_url'))

    def test_encryption_off_by_choice_with_barbican(self):
        self.run_phase('stack', 'post-config',
                       services='c-api,c-vol,c-bak,barbican',
                       CINDER_BACKUP_EXT_ENCRYPTION='False')
        conf = self.cinder_conf()
        self.assertEqual('False',
                         conf.get('DEFAULT', 'backup_encryption_enabled'))
        self.assertFalse(conf.has_section('key_manager'))

    def test_own_coordination_url_is_kept(self):
        with open(self.conf, 'a') as f:
            f.write('[coordination]\nbackend_url = redis://10.0.0.9\n')
        self.run_phase('stack', 'post-config',
                       services='c-api,c-vol,c-bak,etcd3',
                       CINDER_COORDINATION_URL='redis://10.0.0.9',
                       SERVICE_HOST='192.0.2.10', ETCD_PORT='2379')
        self.assertEqual('redis://10.0.0.9',
                         self.cinder_conf().get('coordination',
                                                'backend_url'))

    def test_nfs_without_share_stops_stack(self):
        output = self.run_phase('stack', 'post-config', expect_status=1,
                                CINDER_BACKUP_EXT_DRIVER='nfs')
        self.assertIn('CINDER_BACKUP_EXT_NFS_SHARE', output)

    def test_unknown_driver_stops_stack(self):
        output = self.run_phase('stack', 'post-config', expect_status=1,
                                CINDER_BACKUP_EXT_DRIVER='swift')
        self.assertIn("not 'swift'", output)

    def test_malformed_extra_option_stops_stack(self):
        output = self.run_phase('stack', 'post-config', expect_status=1,
                                CINDER_BACKUP_EXT_OPTIONS='backup_threads')
        self.assertIn('not name=value', output)

    def test_without_cinder_backup_does_nothing(self):
        with open(self.conf) as f:
            before = f.read()
        for mode, phase in (('stack', 'install'), ('stack', 'post-config'),
                            ('unstack', ''), ('clean', '')):
            self.run_phase(mode, phase, services='c-api,c-vol')
        with open(self.conf) as f:
            self.assertEqual(before, f.read())
        self.assertEqual(['define_plugin cinder-backup-ext',
                          'plugin_requires cinder-backup-ext cinder'] * 4,
                         self.calls())

    def test_test_config_enables_tempest_backup_tests(self):
        self.run_phase('stack', 'test-config', services='c-bak,tempest')
        parser = configparser.RawConfigParser()
        parser.read(self.tempest_conf)
        self.assertEqual('True',
                         parser.get('volume-feature-enabled', 'backup'))

    def test_clean_keeps_backups_unless_asked(self):
        self.run_phase('stack', 'post-config')
        repo = os.path.join(self.work, 'data', 'cinder-backup-ext')
        self.run_phase('unstack')
        self.run_phase('clean')
        self.assertTrue(os.path.isdir(repo))
        self.run_phase('clean', CINDER_BACKUP_EXT_PURGE_REPOSITORY='True')
        self.assertFalse(os.path.exists(repo))
