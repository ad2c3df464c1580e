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

"""Thin RBD images for the benchmark, in a Ceph cluster it is given.

Owns laying a generated volume file out as a thin image (the file's
pieces spread evenly over a much larger image, nothing in between), the
volume file cinder-backup gets for such an image (os-brick's
RBDVolumeIOWrapper), and comparing two images where either has data.
Knows nothing of drivers.
"""

import contextlib
import glob
import os
import sys
import tempfile

from cinder_backup_ext.devtools import volumes

MiB = 1024 * 1024
GiB = 1024 * MiB
# The generated file is laid out in pieces of this size.
PIECE = 16 * MiB
COMPARE_CHUNK = 4 * MiB
DIST_PACKAGES = '/usr/lib/python3/dist-packages'


def import_librbd():
    """The rados and rbd modules.

    Debian's python3-rados and python3-rbd are built for the system's
    Python; a virtualenv of the same Python version imports their two
    extension modules from a directory of links to them, without the rest
    of Debian's dist-packages.
    """
    try:
        import rados
        import rbd
        return rados, rbd
    except ImportError:
        pass
    links = tempfile.mkdtemp(prefix='cinder-backup-ext-librbd-')
    for module in ('rados', 'rbd'):
        for path in glob.glob(os.path.join(DIST_PACKAGES,
                                           module + '.cpython-*.so')):
            os.symlink(path, os.path.join(links, os.path.basename(path)))
    sys.path.insert(0, links)
    import rados
    import rbd
    return rados, rbd


class ThinImages(object):
    """Images in one pool of the cluster of ceph_conf."""

    def __init__(self, ceph_conf, pool):
        self.rados, self.rbd = import_librbd()
        self.conf = ceph_conf
        self.pool = pool
        self.cluster = self.rados.Rados(conffile=ceph_conf)
        self.cluster.connect()
        self.ioctx = self.cluster.open_ioctx(pool)

    def close(self):
        self.ioctx.close()
        self.cluster.shutdown()

    def create(self, name, size):
        self.remove(name)
        self.rbd.RBD().create(self.ioctx, name, size)

    def remove(self, name):
        try:
            self.rbd.RBD().remove(self.ioctx, name)
        except self.rbd.ImageNotFound:
            pass

    @contextlib.contextmanager
    def image(self, name):
        with self.rbd.Image(self.ioctx, name) as image:
            yield image

    @contextlib.contextmanager
    def volume_file(self, name):
        """What os-brick's RBD connector hands cinder-backup."""
        from os_brick.initiator import linuxrbd
        with self.image(name) as image:
            yield linuxrbd.RBDVolumeIOWrapper(
                linuxrbd.RBDImageMetadata(image, self.pool, None,
                                          self.conf))

    def lay_out(self, path, name, image_size):
        """Write the file's pieces into the image (created if needed)."""
        with self.image(name) as image, open(path, 'rb') as f:
            for offset, at, length in volumes.placement(
                    os.path.getsize(path), image_size, PIECE):
                f.seek(offset)
                image.write(f.read(length), at)

    def allocated(self, name):
        with self.image(name) as image:
            found = []

            def collect(offset, length, exists):
                if exists:
                    found.append((offset, length))
            image.diff_iterate(0, image.size(), None, collect,
                               whole_object=True)
        return found

    def first_difference(self, expected, actual):
        """The first offset where the images differ, or None: read where
        either has allocated anything (elsewhere both read as zeros)."""
        extents = sorted(set(self.allocated(expected)) |
                         set(self.allocated(actual)))
        with self.image(expected) as one, self.image(actual) as other:
            if one.size() != other.size():
                return min(one.size(), other.size())
            for offset, length in extents:
                for at in range(offset, offset + length, COMPARE_CHUNK):
                    size = min(COMPARE_CHUNK, offset + length - at)
                    if one.read(at, size) != other.read(at, size):
                        return at
        return None
