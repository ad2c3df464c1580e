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

"""ThreadRules: a fixture that fails a test which breaks the thread rules.

Under eventlet (Cinder's TestCase patches it in), every green thread runs
on the process's main native thread, the hub's.  The rules of
cinder_backup_ext.runtime.concurrency, checked while the fixture is active:

- nothing logs from another native thread (eventlet issue 432: a log
  call there can deadlock the process);
- no PosixStore operation runs on the hub's thread, where a hung share
  would stop every green thread of the service.

Violations are collected and reported when the fixture is cleaned up, with
the stack of each, so the test that broke a rule fails and says where.
"""

import logging
import traceback

from eventlet import patcher
import fixtures

from cinder_backup_ext.runtime import concurrency
from cinder_backup_ext.storage import posix as posix_store

_native_threading = patcher.original('threading')

STORE_OPERATIONS = ('put_container', 'put_object', 'get_object',
                    'read_object_into', 'list_objects', 'delete_object',
                    'delete_container', 'object_size', 'exists',
                    'get_object_writer', 'get_object_reader',
                    'reserve_object', 'commit_object', 'delete_objects')


def on_hub_thread():
    return _native_threading.get_ident() == \
        _native_threading.main_thread().ident


class _NativeLogCatcher(logging.Handler):

    def __init__(self, violations):
        super().__init__(logging.DEBUG)
        self._violations = violations

    def emit(self, record):
        if not on_hub_thread():
            self._violations.append(
                'logged on native thread %s: %s:%d %r' % (
                    _native_threading.current_thread().name,
                    record.pathname, record.lineno, record.getMessage()))


class ThreadRules(fixtures.Fixture):

    def _setUp(self):
        self.violations = []
        if not concurrency.eventlet_patched():
            # Without eventlet there is no hub to block and logging is
            # thread-safe.
            return
        handler = _NativeLogCatcher(self.violations)
        root = logging.getLogger()
        root.addHandler(handler)
        self.addCleanup(root.removeHandler, handler)
        for name in STORE_OPERATIONS:
            self._guard_store(name)
        self.addCleanup(self._check)

    def _guard_store(self, name):
        original = getattr(posix_store.PosixStore, name)
        violations = self.violations

        def guarded(store, *args, **kwargs):
            if on_hub_thread():
                violations.append('PosixStore.%s%r on the hub thread:\n%s' % (
                    name, args, ''.join(traceback.format_stack(limit=12))))
            return original(store, *args, **kwargs)
        self.useFixture(fixtures.MonkeyPatch(
            'cinder_backup_ext.storage.posix.PosixStore.' + name, guarded))

    def _check(self):
        if self.violations:
            raise AssertionError('thread rules broken:\n' +
                                 '\n'.join(self.violations))
