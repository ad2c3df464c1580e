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

"""backup_share parsing, mount points and address order (remotefs)."""

from os_brick import exception as brick_exception
from oslo_concurrency import processutils
import testtools

from cinder_backup_ext.nfs import remotefs
from cinder_backup_ext.nfs import share


class ParseShareTest(testtools.TestCase):

    def test_several_addresses_of_one_export(self):
        addresses = remotefs.parse_share(
            '10.0.0.1:/backups, nfs-2.example.com:/backups/,'
            '[fd00::2]:/backups')
        self.assertEqual(['10.0.0.1', 'nfs-2.example.com', 'fd00::2'],
                         [a.host for a in addresses])
        self.assertEqual({'/backups'}, {a.path for a in addresses})
        self.assertEqual('[fd00::2]:/backups', addresses[2].share)

    def test_one_address_is_cinders_format(self):
        [address] = remotefs.parse_share('192.168.1.5:/srv/nfs/backup')
        self.assertEqual('192.168.1.5:/srv/nfs/backup', address.share)

    def test_duplicates_and_empty_entries_are_dropped(self):
        addresses = remotefs.parse_share('h1:/b,,h1:/b/, h2:/b')
        self.assertEqual(['h1:/b', 'h2:/b'], [a.share for a in addresses])

    def test_different_export_paths_are_refused(self):
        error = self.assertRaises(remotefs.ShareError, remotefs.parse_share,
                                  '10.0.0.1:/backups,10.0.0.2:/other')
        self.assertIn('/backups', str(error))
        self.assertIn('/other', str(error))

    def test_malformed_entries(self):
        for value in ('', ' , ', 'host-only', '/path-only',
                      'fd00::2:/backups', '[fd00::zz]:/b', '[fd00::2:/b',
                      'bad_host:/b', '300.1.1.1:/b', '-host:/b'):
            self.assertRaises(remotefs.ShareError, remotefs.parse_share,
                              value)


class MountPointTest(testtools.TestCase):

    def test_same_for_every_address(self):
        addresses = remotefs.parse_share('a:/backups,[fd00::1]:/backups')
        mounts = remotefs.ExportMounts(addresses, '/var/lib/cinder/mnt',
                                       None, 'sudo')
        client = mounts._client
        self.assertEqual(mounts.path,
                         client.get_mount_point('a:/backups'))
        self.assertEqual(mounts.path,
                         client.get_mount_point('[fd00::1]:/backups'))

    def test_depends_on_base_and_path_only(self):
        one = remotefs.mount_point('/mnt', '/backups')
        self.assertEqual(one, remotefs.mount_point('/mnt', '/backups'))
        self.assertNotEqual(one, remotefs.mount_point('/mnt', '/other'))
        self.assertTrue(one.startswith('/mnt/'))
        self.assertEqual(32, len(one.rsplit('/', 1)[1]))


class AddressOrderTest(testtools.TestCase):

    ADDRESSES = remotefs.parse_share('n1:/b,n2:/b,n3:/b')

    def test_deterministic_per_host(self):
        self.assertEqual(
            remotefs.preferred_order(self.ADDRESSES, 'backup-7'),
            remotefs.preferred_order(self.ADDRESSES, 'backup-7'))

    def test_rotation_of_the_configured_list(self):
        order = remotefs.preferred_order(self.ADDRESSES, 'backup-7')
        start = self.ADDRESSES.index(order[0])
        self.assertEqual(self.ADDRESSES[start:] + self.ADDRESSES[:start],
                         order)

    def test_hosts_spread_over_addresses(self):
        firsts = [remotefs.preferred_order(self.ADDRESSES,
                                           'host-%d' % n)[0]
                  for n in range(300)]
        for address in self.ADDRESSES:
            # Even spread is 100 of 300; a broken hash gives 0 or 300.
            self.assertGreater(firsts.count(address), 60)

    def test_failover_goes_to_the_next_and_the_failed_last(self):
        a, b, c = self.ADDRESSES
        order = share.ShareConnection.failover_order
        self.assertEqual([c, a, b], order([a, b, c], b))
        self.assertEqual([b, c, a], order([a, b, c], a))
        self.assertEqual([a, b, c], order([a, b, c], None))


class DeadServerErrorTest(testtools.TestCase):

    def test_classification(self):
        import errno
        for number in (errno.EIO, errno.ESTALE, errno.ETIMEDOUT,
                       errno.ENOTCONN, errno.EHOSTDOWN):
            self.assertTrue(remotefs.is_dead_server_error(
                OSError(number, 'x')))
        for number in (errno.ENOENT, errno.EACCES, errno.ENOSPC,
                       errno.EEXIST):
            self.assertFalse(remotefs.is_dead_server_error(
                OSError(number, 'x')))
        self.assertFalse(remotefs.is_dead_server_error(ValueError('x')))


class ShortReasonTest(testtools.TestCase):
    """What a failed address contributes to ShareUnavailable's message:
    Cinder keeps only 255 characters of a backup's failure reason."""

    def test_mount_output_comes_first(self):
        failed = processutils.ProcessExecutionError(
            stdout='', exit_code=32, cmd='mount -t nfs ...',
            stderr='mount.nfs: 10.0.0.2:/backups: connection refused\n')
        # How os-brick reports it, for every NFS version it tried.
        wrapped = brick_exception.BrickException(
            'NFS mount failed for share 10.0.0.2:/backups. Error - %s'
            % {'nfs': str(failed)})
        expected = 'mount.nfs: 10.0.0.2:/backups: connection refused'
        self.assertEqual(expected, share._short(failed))
        self.assertEqual(expected, share._short(wrapped))

    def test_other_errors_in_one_line(self):
        self.assertEqual("[Errno 5] Input/output error: '/mnt/x'",
                         share._short(OSError(5, 'Input/output error',
                                              '/mnt/x')))
