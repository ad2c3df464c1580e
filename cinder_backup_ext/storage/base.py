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

"""The storage interface the engine writes through.

Like restic's backend: a handful of operations on named objects inside
containers, each with a one-line contract.  Containers and object names are
relative, '/'-separated paths; an implementation must never resolve them to
anything outside its root.  Implementations must not log from object
readers or writers: they run on native threads under eventlet.
"""

import abc

from cinder_backup_ext import exception
from cinder_backup_ext.runtime import buffers


class ObjectStore(metaclass=abc.ABCMeta):

    @abc.abstractmethod
    def put_container(self, container):
        """Create the container (and its parents) if it does not exist."""

    @abc.abstractmethod
    def get_object_writer(self, container, name):
        """A context manager with write(); the object appears whole on a
        clean exit of the block and not at all otherwise."""

    @abc.abstractmethod
    def get_object_reader(self, container, name):
        """A readable binary file object; ObjectNotFound if absent."""

    @abc.abstractmethod
    def list_objects(self, container, prefix=''):
        """Sorted names of the container's objects under prefix, recursive."""

    @abc.abstractmethod
    def delete_object(self, container, name):
        """Remove the object; an object that does not exist is no error."""

    @abc.abstractmethod
    def delete_container(self, container):
        """Remove the container if it is empty, and its empty parents."""

    @abc.abstractmethod
    def object_size(self, container, name):
        """Size in bytes of the stored object; ObjectNotFound if absent."""

    @abc.abstractmethod
    def reserve_object(self, container, name):
        """Create an empty placeholder, listed among the container's
        objects, for commit_object to turn into the object later; return
        its name."""

    @abc.abstractmethod
    def commit_object(self, container, name, reservation, data):
        """Store data as the object through its placeholder, atomically;
        ObjectNotFound if the placeholder is gone (deleted with its
        container meanwhile), and then nothing is stored."""

    def delete_objects(self, container, names):
        """Remove the objects; those that do not exist are no error."""
        for name in names:
            self.delete_object(container, name)

    def put_object(self, container, name, data):
        """Store data as one object, atomically."""
        with self.get_object_writer(container, name) as writer:
            writer.write(data)

    def get_object(self, container, name):
        """The object's whole content as bytes."""
        with self.get_object_reader(container, name) as reader:
            return reader.read()

    def read_object_into(self, container, name, buffer):
        """Read the object into buffer; return the number of bytes read.

        Reads at most len(buffer) bytes: a buffer one byte longer than
        expected tells an object that is too long.
        """
        with self.get_object_reader(container, name) as reader:
            return buffers.fill(reader.readinto, buffer)

    def exists(self, container, name):
        try:
            self.object_size(container, name)
        except exception.ObjectNotFound:
            return False
        return True
