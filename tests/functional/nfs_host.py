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

"""TEST-ONLY: one cinder-backup host running the NFS driver, in a child.

The functional tests run this program in a private mount namespace
(``unshare -m``) so that its NFS mounts, and the stand-in mount.nfs when
the kernel has no NFS client, never touch the machine's own mounts.  It
drives NFSBackupDriver the way cinder-backup does (eventlet monkey
patched, Cinder's database layer on an SQLite file shared by every host
of a test, privileged calls in-process) through the steps of a JSON spec,
and writes one JSON result per step.  The tests assert on those results
and on the export directory itself.

    python nfs_host.py SPEC.json RESULT.json
"""

import json
import os
import subprocess
import sys
import time
import traceback

TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
DRIVER = 'cinder_backup_ext.drivers.nfs.NFSBackupDriver'
_timeline_clock = time.monotonic


class FaultPhase(object):
    """Progress sink of a backup: records when each byte offset was read
    and, once the volume is read past at_byte, signals the server."""

    def __init__(self, fault):
        self.fault = fault or {}
        self.samples = []
        self.fault_time = None
        self.started = _timeline_clock()

    def advance_to(self, position):
        now = _timeline_clock()
        self.samples.append((now, position))
        if self.fault and self.fault_time is None and \
                position >= self.fault['at_byte']:
            self.fault_time = now
            for pid in self.fault['pids']:
                os.kill(pid, self.fault['signal'])

    def timeline(self, finished):
        """Seconds from the start: fault, end, and the longest time the
        volume was not read after the fault (the stall of a failover)."""
        result = {'total_s': round(finished - self.started, 3)}
        if self.fault_time is not None:
            times = [t for t, _ in self.samples if t >= self.fault_time]
            times.append(finished)
            gaps = [b - a for a, b in zip(times, times[1:])]
            result.update({
                'fault_at_s': round(self.fault_time - self.started, 3),
                'stall_s': round(max(gaps) if gaps else 0.0, 3),
                'after_fault_s': round(finished - self.fault_time, 3)})
        return result


def install_standin(shim):
    # Only inside this process's private mount namespace.
    subprocess.run(['mount', '--make-rprivate', '/'], check=True)
    subprocess.run(['mount', '--bind', shim, '/sbin/mount.nfs'], check=True)


def configure(spec):
    from cinder_backup_ext.devtools import harness
    from cinder_backup_ext.runtime import process

    workdir = spec['workdir']
    options = ['%s=%s' % item for item in sorted(spec['options'].items())]
    options.append('log_file = %s' % spec['log_file'])
    conf_path = harness.write_config(workdir, DRIVER,
                                     spec.get('compression', 'zstd'),
                                     options)
    with open(conf_path, 'a') as f:
        f.write('\n[coordination]\nbackend_url = file://%s\n'
                % os.path.join(workdir, 'coordination'))
    process.configure([conf_path])
    import logging as std_logging
    std_logging.getLogger('cinder_backup_ext').setLevel(std_logging.INFO)
    return harness


def run_steps(spec, harness):
    from cinder import coordination
    from cinder import objects
    from os_brick import privileged

    from cinder_backup_ext.nfs import remotefs

    # The test runs as root: privileged calls run in this process instead
    # of a privsep daemon started through sudo.
    privileged.default.set_client_mode(False)
    coordination.COORDINATOR.start()
    cinder = harness.Cinder(DRIVER)
    results = []
    for step in spec['steps']:
        started = _timeline_clock()
        result = {'op': step['op']}
        try:
            run_step(cinder, step, result, objects)
            result['ok'] = True
        except Exception as error:
            result['ok'] = False
            result['error_type'] = type(error).__name__
            result['error'] = str(error)
            result['traceback'] = traceback.format_exc()
        result['seconds'] = round(_timeline_clock() - started, 3)
        addresses = remotefs.parse_share(spec['options']['backup_share'])
        mount_path = remotefs.mount_point(
            spec['options']['backup_mount_point_base'], addresses[0].path)
        result['mount_point'] = mount_path
        result['mounted'] = mounted_source(mount_path)
        results.append(result)
        if not result['ok'] and step.get('stop_on_error', True):
            break
    return results


def mounted_source(path):
    with open('/proc/self/mounts') as f:
        for line in f:
            fields = line.split()
            if len(fields) > 1 and fields[1] == path:
                return fields[0]
    return None


def run_step(cinder, step, result, objects):
    op = step['op']
    if op == 'check_setup':
        cinder.check_setup()
    elif op == 'backup':
        size = os.path.getsize(step['volume'])
        volume = cinder.create_volume('vol', size)
        phase = FaultPhase(step.get('fault'))
        try:
            backup = cinder.backup(volume, step['volume'], 'backup', phase)
            result['backup_id'] = backup.id
        finally:
            result['timeline'] = phase.timeline(_timeline_clock())
    elif op == 'restore':
        backup = objects.Backup.get_by_id(cinder.context, step['backup_id'])
        size = os.path.getsize(step['target'])
        volume = cinder.create_volume('target', size)
        cinder.restore(backup, volume, step['target'], FaultPhase(None))
        # Imported here: this file runs as a script, and main() puts the
        # checkout on sys.path first.
        from tests import checksums
        result['sha256'] = checksums.sha256_file(step['target'])
    elif op == 'delete':
        backup = objects.Backup.get_by_id(cinder.context, step['backup_id'])
        cinder.driver().delete_backup(backup)
    else:
        raise ValueError('unknown step %r' % op)


def unmount_all(base):
    """Leave no mount behind: the stand-in's FUSE servers exit with it."""
    with open('/proc/self/mounts') as f:
        points = [line.split()[1] for line in f
                  if len(line.split()) > 1 and
                  line.split()[1].startswith(base.rstrip('/') + '/')]
    for point in sorted(points, reverse=True):
        subprocess.run(['umount', '-f', point], stderr=subprocess.DEVNULL)
        if mounted_source(point):
            subprocess.run(['umount', '-l', point],
                           stderr=subprocess.DEVNULL)


def main(argv):
    spec_path, result_path = argv
    with open(spec_path) as f:
        spec = json.load(f)
    sys.path.insert(0, TOP)
    from cinder_backup_ext.runtime import process
    process.monkey_patch([])
    if spec.get('standin_shim'):
        install_standin(spec['standin_shim'])
    try:
        harness = configure(spec)
        results = run_steps(spec, harness)
    finally:
        unmount_all(spec['options']['backup_mount_point_base'])
    with open(result_path, 'w') as f:
        json.dump(results, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
