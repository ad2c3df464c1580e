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

"""An in-memory stand-in for a librbd Image, behind os-brick's real
RBDVolumeIOWrapper: what cinder-backup hands a driver for a Ceph volume.

It keeps what matters to a backup driver from librbd: read(offset,
length) and write(data, offset) that takes bytes only, size(), flush(),
diff_iterate() listing the objects ever written (whole objects, as
librbd does with whole_object=True), write_zeroes() that deallocates
whole objects, and errors as librbd raises them.  tests/functional runs
the same paths against a real Ceph.
"""

from os_brick.initiator import linuxrbd

# Smaller than RBD's 4 MiB so that test volumes span many objects.
OBJECT_SIZE = 64 * 1024


class ImageNotFound(Exception):
    """What librbd raises for an image removed under its user."""


class FakeImage(object):

    def __init__(self, data, object_size=OBJECT_SIZE):
        self.data = bytearray(data)
        self.object_size = object_size
        # Objects written at some point, zeros or not, as librbd
        # allocates them.
        self.allocated = {offset // object_size
                          for offset in range(0, len(self.data),
                                              object_size)
                          if any(self.data[offset:offset + object_size])}
        self.bytes_read = 0
        self.zeroed = []
        self.removed = False
        self.hidden = set()          # objects diff_iterate leaves out
        self.on_read = None

    # --- librbd's Image -------------------------------------------------

    def _check(self):
        if self.removed:
            raise ImageNotFound('[errno 2] RBD image not found')

    def size(self):
        self._check()
        return len(self.data)

    def read(self, offset, length):
        self._check()
        if self.on_read is not None:
            self.on_read(self, offset)
        self.bytes_read += length
        return bytes(self.data[offset:offset + length])

    def write(self, data, offset):
        self._check()
        if not isinstance(data, bytes):
            raise TypeError('data must be bytes')
        self.data[offset:offset + len(data)] = data
        for number in range(offset // self.object_size,
                            (offset + len(data) - 1) // self.object_size
                            + 1):
            self.allocated.add(number)
        return len(data)

    def write_zeroes(self, offset, length):
        self._check()
        self.zeroed.append((offset, length))
        self.data[offset:offset + length] = bytes(length)
        first = -(-offset // self.object_size)
        last = (offset + length) // self.object_size
        self.allocated -= set(range(first, last))

    def diff_iterate(self, offset, length, from_snapshot, iterate_cb,
                     include_parent=True, whole_object=False):
        self._check()
        for number in sorted(self.allocated - self.hidden):
            start = number * self.object_size
            if offset <= start < offset + length:
                iterate_cb(start, min(self.object_size,
                                      len(self.data) - start), True)

    def flush(self):
        self._check()

    def require_not_closed(self):
        pass

    def close(self):
        pass


class NoHintsImage(FakeImage):
    """An image whose librbd has no diff_iterate."""

    def __getattribute__(self, name):
        if name == 'diff_iterate':
            raise AttributeError(name)
        return super().__getattribute__(name)


def wrapper(image):
    """os-brick's wrapper, as cinder-backup gets it from the connector."""
    return linuxrbd.RBDVolumeIOWrapper(
        linuxrbd.RBDImageMetadata(image, 'volumes', None, None))
