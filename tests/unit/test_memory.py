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

"""backup_malloc_mmap_threshold: memory freed on any thread goes back.

The threshold belongs to the process, so its effect is measured in a
process of its own: eight native threads at once each allocate, touch and
free blocks of 12 and 11 MiB, as workers decoding segment indexes do.
With glibc's moving threshold every thread's arena keeps its 11 MiB
(about 90 MiB in all); with the threshold set, nothing is kept.
"""

import os
import subprocess
import sys

import fixtures
import testtools

from cinder_backup_ext.runtime import memory

_ARENAS = r'''
import os, sys, threading
from oslo_config import cfg
from cinder_backup_ext.runtime import memory
cfg.CONF([], project='cinder')
applied = memory.apply_threshold()

def rss():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')

barrier = threading.Barrier(8)

def work():
    barrier.wait()
    for size in (12, 11):
        block = bytearray(size << 20)
        block[::4096] = b'x' * len(block[::4096])
        del block
    barrier.wait()

before = rss()
threads = [threading.Thread(target=work) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(applied, (rss() - before) >> 20)
'''


class ThresholdTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.MonkeyPatch(
            'cinder_backup_ext.runtime.memory._applied', False))
        self.useFixture(fixtures.EnvironmentVariable(
            'MALLOC_MMAP_THRESHOLD_'))
        self.useFixture(fixtures.EnvironmentVariable('GLIBC_TUNABLES'))
        self.calls = []
        self.useFixture(fixtures.MonkeyPatch(
            'cinder_backup_ext.runtime.memory._mallopt',
            lambda: lambda option, value: self.calls.append(
                (option, value)) or 1))

    def _threshold(self, value):
        memory.CONF.set_override('backup_malloc_mmap_threshold', value)
        self.addCleanup(memory.CONF.clear_override,
                        'backup_malloc_mmap_threshold')

    def test_freed_blocks_go_back_from_every_thread(self):
        self.useFixture(fixtures.MonkeyPatch(
            'cinder_backup_ext.runtime.memory._mallopt', memory._mallopt))
        env = dict(os.environ)
        env.pop('MALLOC_MMAP_THRESHOLD_', None)
        env.pop('GLIBC_TUNABLES', None)
        output = subprocess.run(
            [sys.executable, '-c', _ARENAS], env=env, check=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            universal_newlines=True).stdout.split()
        self.assertEqual('True', output[0])
        self.assertLess(int(output[1]), 16, 'MiB kept after the threads '
                        'freed their blocks')

    def test_set_once_with_the_option(self):
        self._threshold(4 << 20)
        self.assertTrue(memory.apply_threshold())
        self.assertFalse(memory.apply_threshold())
        self.assertEqual([(memory.M_MMAP_THRESHOLD, 4 << 20)], self.calls)

    def test_zero_leaves_the_allocator_alone(self):
        self._threshold(0)
        self.assertFalse(memory.apply_threshold())
        self.assertEqual([], self.calls)

    def test_the_environment_wins(self):
        self.useFixture(fixtures.EnvironmentVariable(
            'MALLOC_MMAP_THRESHOLD_', '65536'))
        self.assertFalse(memory.apply_threshold())
        self.assertEqual([], self.calls)

    def test_a_tunable_wins_but_not_another_one(self):
        self.useFixture(fixtures.EnvironmentVariable(
            'GLIBC_TUNABLES', 'glibc.malloc.arena_max=2'))
        self.assertTrue(memory.apply_threshold())
        self.useFixture(fixtures.MonkeyPatch(
            'cinder_backup_ext.runtime.memory._applied', False))
        self.useFixture(fixtures.EnvironmentVariable(
            'GLIBC_TUNABLES',
            'glibc.malloc.mmap_threshold=65536:glibc.malloc.arena_max=2'))
        self.assertFalse(memory.apply_threshold())
        self.assertEqual(1, len(self.calls))

    def test_a_library_without_mallopt(self):
        self.useFixture(fixtures.MonkeyPatch(
            'cinder_backup_ext.runtime.memory._mallopt', lambda: None))
        self.assertFalse(memory.apply_threshold())

    def test_a_refused_threshold(self):
        self.useFixture(fixtures.MonkeyPatch(
            'cinder_backup_ext.runtime.memory._mallopt',
            lambda: lambda option, value: 0))
        self.assertFalse(memory.apply_threshold())
