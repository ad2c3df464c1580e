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

"""A store that runs every whole-object operation of another through one
method: the place where retries, failover or faults are added by wrapping.

Subclasses implement _call(method, *args), which runs
getattr(store, method)(*args) on the store they wrap, with whatever they
add around it.  Streaming writers and readers cannot be replayed and go to
_streams(), the store they come from, unwrapped.
"""

import abc

from cinder_backup_ext.storage import base


class WrappingStore(base.ObjectStore, metaclass=abc.ABCMeta):

    @abc.abstractmethod
    def _call(self, method, *args):
        """Run the named operation of the wrapped store."""

    @abc.abstractmethod
    def _streams(self):
        """The store that hands out writers and readers."""

    def put_container(self, container):
        return self._call('put_container', container)

    def put_object(self, container, name, data):
        return self._call('put_object', container, name, data)

    def get_object(self, container, name):
        return self._call('get_object', container, name)

    def read_object_into(self, container, name, buffer):
        return self._call('read_object_into', container, name, buffer)

    def list_objects(self, container, prefix=''):
        return self._call('list_objects', container, prefix)

    def delete_object(self, container, name):
        return self._call('delete_object', container, name)

    def delete_container(self, container):
        return self._call('delete_container', container)

    def object_size(self, container, name):
        return self._call('object_size', container, name)

    def reserve_object(self, container, name):
        return self._call('reserve_object', container, name)

    def commit_object(self, container, name, reservation, data):
        return self._call('commit_object', container, name, reservation,
                          data)

    def delete_objects(self, container, names):
        return self._call('delete_objects', container, names)

    def exists(self, container, name):
        return self._call('exists', container, name)

    def get_object_writer(self, container, name):
        return self._streams().get_object_writer(container, name)

    def get_object_reader(self, container, name):
        return self._streams().get_object_reader(container, name)
