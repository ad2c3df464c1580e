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

"""Progress notifications for backups, as Cinder's chunked driver sends them.

Sends `backup.createprogress` with backup_percent every
backup_timer_interval seconds (when backup_enable_progress_timer is set) or
every backup_object_number_per_notification chunks, and a final 100%.
The percentage is the share of the volume actually processed.
"""

import time

from oslo_config import cfg
from oslo_log import log as logging

from cinder.volume import volume_utils

LOG = logging.getLogger(__name__)
CONF = cfg.CONF
CONF.import_opt('backup_timer_interval', 'cinder.backup.driver')
CONF.import_opt('backup_object_number_per_notification',
                'cinder.backup.driver')
CONF.import_opt('backup_enable_progress_timer', 'cinder.backup.drivers.posix')


class ProgressNotifier(object):
    def __init__(self, context, backup, total_bytes):
        self.context = context
        self.backup = backup
        self.total_bytes = max(1, total_bytes)
        self.interval = (CONF.backup_timer_interval
                         if CONF.backup_enable_progress_timer else None)
        self.every = max(1, CONF.backup_object_number_per_notification)
        self._chunks = 0
        self._last = time.monotonic()

    def _send(self, percent):
        try:
            volume_utils.notify_about_backup_usage(
                self.context, self.backup, 'createprogress',
                extra_usage_info={'backup_percent': percent})
        except Exception as error:
            # A notification bus problem must not fail the backup.
            LOG.warning('Cannot send progress of backup %(id)s: %(err)s',
                        {'id': self.backup.id, 'err': error})

    def update(self, done_bytes):
        self._chunks += 1
        now = time.monotonic()
        due_by_time = (self.interval is not None and
                       now - self._last >= self.interval)
        if self._chunks % self.every == 0 or due_by_time:
            self._last = now
            self._send(min(100.0, done_bytes * 100.0 / self.total_bytes))

    def finish(self):
        self._send(100)
