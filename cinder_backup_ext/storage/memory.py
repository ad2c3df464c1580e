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

"""An in-memory ObjectStore for unit tests of the engine."""

import io
import threading
import uuid

from cinder_backup_ext import exception
from cinder_backup_ext.storage import base


class _Writer(io.BytesIO):
    def __init__(self, store, key):
        super().__init__()
        self._store = store
        self._key = key

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            with self._store._lock:
                self._store.objects[self._key] = self.getvalue()
        return super().__exit__(exc_type, exc, tb)


class MemoryStore(base.ObjectStore):
    """Objects in a dict keyed by (container, name); thread-safe."""

    def __init__(self):
        self.objects = {}
        self.containers = set()
        self._lock = threading.Lock()

    def put_container(self, container):
        self.containers.add(container)

    def get_object_writer(self, container, name):
        return _Writer(self, (container, name))

    def get_object_reader(self, container, name):
        try:
            return io.BytesIO(self.objects[(container, name)])
        except KeyError:
            raise exception.ObjectNotFound('%s/%s' % (container, name))

    def list_objects(self, container, prefix=''):
        return sorted(n for (c, n) in list(self.objects)
                      if c == container and n.startswith(prefix))

    def delete_object(self, container, name):
        with self._lock:
            self.objects.pop((container, name), None)

    def delete_container(self, container):
        if not self.list_objects(container):
            self.containers.discard(container)

    def object_size(self, container, name):
        try:
            return len(self.objects[(container, name)])
        except KeyError:
            raise exception.ObjectNotFound('%s/%s' % (container, name))

    def reserve_object(self, container, name):
        reservation = '%s.tmp-%s' % (name, uuid.uuid4().hex)
        with self._lock:
            self.objects[(container, reservation)] = b''
        return reservation

    def commit_object(self, container, name, reservation, data):
        with self._lock:
            if self.objects.pop((container, reservation), None) is None:
                raise exception.ObjectNotFound(
                    '%s/%s: its placeholder was removed' % (container, name))
            self.objects[(container, name)] = bytes(data)

    def exists(self, container, name):
        return (container, name) in self.objects
