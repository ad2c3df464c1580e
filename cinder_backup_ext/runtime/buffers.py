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

"""Reuse of object-sized memory: free lists, and filling given buffers.

Owns the mechanisms that keep memory per job rather than per object:
a free list of costly objects (buffers, zstd streams) that any thread may
borrow from, reading into an existing buffer until it is full, and the
shared read-only zero blocks.  Knows nothing of what the bytes are.
"""

import collections
import contextlib
import functools


@functools.lru_cache(maxsize=8)
def zero_block(size):
    """size zero bytes, the same object for every caller: a thin volume's
    holes cost no memory, and a caller may recognise one by identity."""
    return bytes(size)


class FreeList(object):
    """Objects made by factory(), lent to one user at a time and kept for
    the next.

    Only as many are ever made as are in use at once.  deque's append and
    pop are atomic, so native threads may borrow, under eventlet as well
    as without it.
    """

    def __init__(self, factory):
        self._factory = factory
        self._free = collections.deque()

    def take(self):
        try:
            return self._free.pop()
        except IndexError:
            return self._factory()

    def give_back(self, item):
        self._free.append(item)

    @contextlib.contextmanager
    def borrow(self):
        item = self.take()
        try:
            yield item
        finally:
            self.give_back(item)


def fill(readinto, buffer):
    """Call readinto on what is left of buffer until it is full or the
    source ends; return the number of bytes read."""
    view = memoryview(buffer)
    filled = 0
    while filled < len(view):
        count = readinto(view[filled:])
        if not count:
            break
        filled += count
    return filled
