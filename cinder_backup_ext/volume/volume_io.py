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

"""The volume file cinder-backup hands a driver, whatever it is.

Owns reading a volume into the engine's buffers, writing restored bytes
back, asking a thin volume what it has allocated, zeroing ranges, and
making a restored volume durable.  Knows nothing of backups.

cinder-backup passes an open file or block device (inside eventlet's
tpool.Proxy under eventlet), or, for a Ceph volume, os-brick's
RBDVolumeIOWrapper: an io.RawIOBase with read, write, seek, tell and flush
only.  Its readinto raises NotImplementedError, its fileno
io.UnsupportedOperation, and the librbd image behind it takes bytes only.
What the object can do is found out on first use and kept to; bytes are
copied only for a target that needs them.

Calls on the volume file are made on the operation's own thread (a
tpool.Proxy sends them to a native thread); calls on the librbd image
behind an RBD wrapper (its size, allocation, zeroing) block, and go
through the operation's NativeWorkers, which also read an image's chunks
themselves (read_at), several at once.

A regular file or block device behind a file descriptor is read and
written by that descriptor, positionally, on the NativeWorkers: a regular
file's holes (lseek SEEK_DATA / SEEK_HOLE, asked chunk by chunk as it is
read) are never read, restored ranges are handed to writeback as they are
written, and zero ranges of an existing volume are punched rather than
written (disk).
"""

import bisect
import errno
import fcntl
import io
import os
import random
import stat

from oslo_log import log as logging

from cinder_backup_ext.runtime import buffers
from cinder_backup_ext.runtime import concurrency
from cinder_backup_ext.volume import disk

LOG = logging.getLogger(__name__)

# What calling a method the volume file does not really have raises.
_UNSUPPORTED = (NotImplementedError, io.UnsupportedOperation,
                AttributeError)
# Zeros are written in pieces of this size where a range cannot be
# zeroed otherwise.
_ZERO_WRITE = 4 << 20
# The parts of a buffer that a file's holes cover are cleared from this,
# a piece at a time, rather than from a fresh zero bytes object per hole.
_ZERO_FILL = memoryview(bytes(1 << 20))
# Restored bytes are gathered until there are this many before their
# writeback starts, so that the disk gets large writes rather than one per
# block; at most _WRITEBACK_AHEAD bytes are then in writeback unwaited for
# (the dirty page cache a restore holds is bounded by about twice that).
_WRITEBACK_START = 1 << 20
_WRITEBACK_AHEAD = 32 << 20


class Allocation(object):
    """The parts of a volume that may hold data, from the volume itself.

    Everything outside them reads as zeros.  extents are (offset,
    length) pairs in any order; they are merged.
    """

    # librbd's diff can leave out objects that hold data (a stale object
    # map): its report is sampled before it is trusted.
    needs_check = True

    def __init__(self, extents, size):
        self.size = size
        merged = []
        for offset, length in sorted(extents):
            end = min(offset + length, size)
            if end <= offset:
                continue
            if merged and offset <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([offset, end])
        self._starts = [start for start, _end in merged]
        self._ends = [end for _start, end in merged]

    @property
    def allocated_bytes(self):
        return sum(end - start
                   for start, end in zip(self._starts, self._ends))

    def holds_data(self, start, end):
        """Whether any byte of [start, end) may hold data."""
        # The last extent starting before end is the only one that can
        # reach into [start, end) from the left; later ones start past it.
        position = bisect.bisect_left(self._starts, end) - 1
        return position >= 0 and self._ends[position] > start

    def empty_ranges(self):
        """(start, end) of every range the volume says is not allocated."""
        position = 0
        for start, end in zip(self._starts, self._ends):
            if start > position:
                yield position, start
            position = end
        if position < self.size:
            yield position, self.size


class FileAllocation(object):
    """A regular file whose holes the file system reports (SEEK_HOLE).

    It is asked chunk by chunk, on the native thread that reads the chunk
    (VolumeFile.read_chunk), never listed whole: the map of a fragmented
    file would grow with its size.  So holds_data answers "may hold
    data" for every range, and the read finds out.
    """

    # A hole is what the file system's own block map says reads as zeros,
    # the same map every read of the file goes through: unlike librbd's
    # diff, it cannot disagree with what a read returns, so there is
    # nothing for samples to catch.
    needs_check = False

    def __init__(self, size, allocated_bytes, find=None):
        """find(position) is (start, end) of the first data at or after
        position, (size, size) if there is none; it runs on a native
        worker."""
        self.size = size
        # From st_blocks: what the file system stores for it, metadata and
        # preallocated blocks included.
        self.allocated_bytes = allocated_bytes
        self._find = find
        # What the last question found: a hole from _asked to _data, then
        # data up to _hole.  Only that is remembered, so memory does not
        # grow with the file, and a long hole costs one question, not one
        # per chunk (each a round trip to a worker).
        self._asked = self._data = self._hole = 0

    def holds_data(self, start, end):
        """Whether [start, end) may hold data; False only where the file
        system said it is a hole."""
        if self._find is None:
            return True
        if not (self._asked <= start < self._hole):
            self._asked = start
            self._data, self._hole = self._find(start)
        return self._data < end

    def empty_ranges(self):
        """None listed: the holes are found as the file is read, and
        there is nothing in them to sample."""
        return iter(())


def _write_zeros(write, offset, length):
    """write(offset, data) zeros over [offset, offset + length), in pieces
    of the shared zero block: where a range cannot be zeroed otherwise."""
    position = offset
    end = offset + length
    while position < end:
        piece = min(_ZERO_WRITE, end - position)
        write(position, buffers.zero_block(piece))
        position += piece


class VolumeError(Exception):
    """The volume could not be read as it was at the start."""


def _rbd_image(volume_file):
    """The librbd image behind os-brick's RBD wrapper, or None."""
    try:
        return getattr(volume_file, 'rbd_image', None)
    except Exception:
        # A closed image, say: then it is no use anyway.
        return None


class VolumeFile(object):

    def __init__(self, volume_file, workers):
        self.file = volume_file
        self._workers = workers
        self._image = _rbd_image(volume_file)
        # None until tried: whether readinto works, whether the target
        # takes a memoryview, whether the image zeroes ranges itself.
        self._reads_into = None
        self._takes_views = True
        self._zeroes = True
        # The _Descriptor of a regular file or block device: None until
        # asked for, False when there is none.
        self._descriptor = None
        # Set when a regular file's holes are read by the descriptor.
        self._holes = None

    # --- reading ---------------------------------------------------------

    def read_into(self, buffer):
        """Read from the current position: the buffer itself when it was
        filled, fewer bytes at the end of the volume, b'' past it.

        VolumeError when the volume fails in a way that is not a plain
        I/O error (an RBD image removed under the backup, say).
        """
        try:
            return self._read_into(buffer)
        except (OSError, VolumeError):
            raise
        except Exception as error:
            raise VolumeError('%s: %s' % (type(error).__name__, error))

    def _read_into(self, buffer):
        if self._reads_into is not False:
            try:
                filled = buffers.fill(self.file.readinto, buffer)
            except _UNSUPPORTED:
                if self._reads_into:
                    raise
                self._reads_into = False
            else:
                self._reads_into = True
                if filled == len(buffer):
                    return buffer
                return bytes(memoryview(buffer)[:filled])
        return self._read(len(buffer))

    @property
    def reads_at(self):
        """Whether read_chunk works: a read at any offset, from any
        thread, several at once.  An RBD image's reads are positional, and
        librbd lets go of the GIL while it waits for them; so do preads of
        a file whose holes allocation() found it can find."""
        return self._image is not None or self._holes is not None

    def read_chunk(self, offset, length, buffer):
        """(data, bytes not read) for length bytes at offset (only when
        reads_at).  A file's data is read into buffer (which holds at
        least length bytes), its holes are not read but zeros; an
        image's chunk is read whole.  Runs on a native worker."""
        if self._image is not None:
            return self.read_at(offset, length), 0
        return self._holes.read_chunk(offset, length, buffer)

    def read_at(self, offset, length):
        """length bytes at offset (only when reads_at).  A VolumeError if
        the volume fails or no longer holds them: it shrank."""
        try:
            data = self._image.read(offset, length)
        except Exception as error:
            raise VolumeError(self._shrunk(offset, length) or '%s: %s' % (
                type(error).__name__, error))
        if len(data) != length:
            raise VolumeError(self._shrunk(offset, length) or (
                '%d bytes at offset %d where %d were expected'
                % (len(data), offset, length)))
        return data

    def _shrunk(self, offset, length):
        # librbd refuses a read past the end of an image resized under it
        # (EINVAL): say what happened rather than what librbd saw.
        try:
            now = self._image.size()
        except Exception:
            return None
        if now >= offset + length:
            return None
        return ('it has %d bytes now, too few for the %d at offset %d: it '
                'changed during the backup' % (now, length, offset))

    def _read(self, size):
        # read() hands out fresh bytes: they are used as they are, not
        # copied into a buffer.
        data = self.file.read(size)
        if len(data) in (0, size):
            return data
        pieces = [data]
        got = len(data)
        while got < size:
            more = self.file.read(size - got)
            if not more:
                break
            pieces.append(more)
            got += len(more)
        return b''.join(pieces)

    def seek(self, offset):
        self.file.seek(offset)

    def size(self):
        """Bytes in the volume now, or None if it cannot tell."""
        if self._image is not None:
            return self._workers.call(self._image.size)
        try:
            position = self.file.tell()
            self.file.seek(0, os.SEEK_END)
            end = self.file.tell()
            self.file.seek(position)
        except (_UNSUPPORTED + (OSError, ValueError)):
            return None
        return end

    def allocation(self, size):
        """An Allocation of the volume's first size bytes, or None when
        the volume cannot tell (then everything is read).

        librbd lists the objects an image (and its parent) allocated, as
        Benji asks it; a regular file's holes are found as it is read
        (FileAllocation).  A block device cannot tell.
        """
        if self._image is None:
            return self._file_allocation(size)
        found = []

        def collect(offset, length, exists):
            if exists:
                found.append((offset, length))
        try:
            self._workers.call(self._image.diff_iterate, 0, size, None,
                               collect, True, True)
        except Exception as error:
            LOG.info('The RBD image cannot tell which parts it allocated '
                     '(%(type)s: %(err)s): reading all of it.',
                     {'type': type(error).__name__, 'err': error})
            return None
        return Allocation(found, size)

    def _file_allocation(self, size):
        target = self._target()
        if target is None or not target.is_file:
            return None
        allocated = self._workers.call(target.finds_holes)
        if allocated is None:
            LOG.info('The file system of the volume file cannot tell its '
                     'holes (lseek SEEK_DATA): reading all of it.')
            return None
        self._holes = target

        def find(position):
            return self._workers.call(target.find_data, position, size)
        return FileAllocation(size, min(allocated, size), find)

    def _target(self):
        """The volume's _Descriptor, or None."""
        if self._descriptor is None:
            self._descriptor = False
            if self._image is None:
                try:
                    fileno = self.file.fileno()
                except (_UNSUPPORTED + (OSError, ValueError)):
                    fileno = None
                if isinstance(fileno, int):
                    self._descriptor = self._workers.call(
                        _Descriptor.open, fileno) or False
        return self._descriptor or None

    def first_data_in(self, allocation, samples, block_size):
        """Check the allocation where it says there is nothing: read
        samples blocks at random there and return the offset of one that
        holds data, or None.  Leaves the position at 0."""
        ranges = list(allocation.empty_ranges())
        total = sum(end - start for start, end in ranges)
        buffer = bytearray(block_size)
        # SystemRandom: a lying volume must not predict what is read.
        pick = random.SystemRandom().randrange
        for _ in range(samples if total else 0):
            point = pick(total)
            for start, end in ranges:
                if point < end - start:
                    break
                point -= end - start
            at = start + point
            offset = max(start, at - at % block_size)
            length = min(block_size, end - offset)
            self.seek(offset)
            data = self.read_into(memoryview(buffer)[:length])
            if bytes(data) != buffers.zero_block(len(data)):
                self.seek(0)
                return offset
        self.seek(0)
        return None

    # --- writing ---------------------------------------------------------

    def write_at(self, offset, data):
        target = self._target()
        if target is not None:
            self._workers.call(target.write, offset, data)
            return
        self.file.seek(offset)
        if self._takes_views:
            try:
                self.file.write(data)
                return
            except TypeError:
                # librbd's Image.write takes bytes only; it refuses before
                # writing anything.
                if isinstance(data, bytes):
                    raise
                self._takes_views = False
        self.file.write(bytes(data))

    def worker_writer(self):
        """A write(offset, data) that native workers may call, several at
        once, or None where writes must go through write_at.

        A regular file or block device is written by its descriptor: a
        restore then writes each object on the worker that decoded it, and
        the volume's writes overlap each other and the decoding instead of
        waiting their turn on the operation's thread.
        """
        target = self._target()
        return target.write if target is not None else None

    def zero_range(self, offset, length):
        """Make [offset, offset + length) read as zeros.

        An RBD image zeroes the range itself (write_zeroes, which
        deallocates whole objects, as a discard does, but also zeroes the
        parts of objects a discard may skip); a regular file has the range
        punched out, a block device zeroes it (BLKZEROOUT, which a thin
        device answers by unmapping it); elsewhere, or where that is
        refused as unsupported, zeros are written.
        """
        target = self._target()
        if target is not None:
            was_punching = target.punches
            self._workers.call(target.zero, offset, length)
            if was_punching and not target.punches:
                LOG.info('The volume cannot %(how)s (%(err)s): writing '
                         'zeros instead.',
                         {'how': 'punch holes' if target.is_file
                          else 'zero ranges itself (BLKZEROOUT)',
                          'err': target.punch_error})
            return
        if self._image is not None and self._zeroes:
            try:
                self._workers.call(self._image.write_zeroes, offset, length)
                return
            except Exception as error:
                self._zeroes = False
                LOG.info('The RBD image cannot zero ranges itself '
                         '(%(type)s: %(err)s): writing zeros.',
                         {'type': type(error).__name__, 'err': error})
        _write_zeros(self.write_at, offset, length)

    def finish(self, size):
        """Flush the restored volume to stable storage before it is
        reported available."""
        self.file.flush()
        target = self._target()
        if target is not None:
            self._workers.call(target.finish, size)
            return
        try:
            fileno = self.file.fileno()
        except (_UNSUPPORTED + (OSError, ValueError)):
            # An RBD image: its flush() was the flush of librbd's cache.
            return
        self._workers.call(_extend_and_sync, fileno, size)


def wrap(volume_file, workers):
    """volume_file as a VolumeFile (it may be one already)."""
    if isinstance(volume_file, VolumeFile):
        return volume_file
    return VolumeFile(volume_file, workers)


def _extend_and_sync(fileno, size):
    # A regular file opened with 'wb' was truncated; zeros at its end were
    # skipped, so give it back its full length (sparse).  Block devices have
    # their size already.
    status = os.fstat(fileno)
    if stat.S_ISREG(status.st_mode) and status.st_size < size:
        os.ftruncate(fileno, size)
    os.fsync(fileno)


class _Descriptor(object):
    """A regular file or block device, read and written by its file
    descriptor at given offsets.

    Its methods run on native workers.  read_chunk and write run on
    several at once: read_chunk only reads the file and what open() set,
    and write keeps its writeback accounting under a lock; the others run
    one call at a time, each waited for by the operation's thread.  No
    logging here: what the caller should say is left in attributes.
    """

    def __init__(self, fd, is_file):
        self.fd = fd
        self.is_file = is_file
        # Until the file system or device refuses: then zeros are written
        # and punch_error says why.
        self.punches = True
        self.punch_error = None
        self._writeback = True
        # Written, writeback not started: [low, high) and bytes in it.
        self._unstarted = None
        self._unstarted_bytes = 0
        # Writeback started, not waited for; and the range before it.
        self._started = None
        self._started_bytes = 0
        self._previous = None
        # Native: taken by workers only, never by a green thread.
        self._lock = concurrency.native_lock()

    @classmethod
    def open(cls, fd):
        """A _Descriptor for fd, or None when it is neither a regular file
        nor a block device, or writes to it would not land where asked."""
        mode = os.fstat(fd).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISBLK(mode)):
            return None
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_APPEND:
            # pwrite appends whatever the offset on Linux.
            return None
        return cls(fd, stat.S_ISREG(mode))

    # --- reading ---------------------------------------------------------

    def finds_holes(self):
        """Bytes the file has allocated (st_blocks), or None when its file
        system cannot find holes: then it is read whole."""
        try:
            os.lseek(self.fd, 0, os.SEEK_DATA)
        except AttributeError:
            return None
        except OSError as error:
            # ENXIO: no data at all, which is an answer; EINVAL (an old
            # kernel) or EOPNOTSUPP: no answer.
            if error.errno != errno.ENXIO:
                return None
        return os.fstat(self.fd).st_blocks * 512

    def read_chunk(self, offset, length, buffer):
        """(data, bytes not read): length bytes at offset, data read into
        buffer and holes zeroed there without a read.  A chunk all hole is
        the shared zero block, which the backup recognises unread."""
        end = offset + length
        view = memoryview(buffer)[:length]
        position = offset
        unread = 0
        while position < end:
            data = self._next_data(position, end)
            if data > position:
                _clear(view[position - offset:data - offset])
                unread += data - position
                if unread == length:
                    return buffers.zero_block(length), length
            if data >= end:
                break
            # Past the end of a data range is a hole, or the file's end.
            hole = min(os.lseek(self.fd, data, os.SEEK_HOLE), end)
            self._pread(view[data - offset:hole - offset], data)
            position = hole
        if length == len(buffer):
            return buffer, unread
        return bytes(view), unread

    def find_data(self, position, end):
        """(start, end) of the first data range at or after position, cut
        at end; (end, end) if there is none."""
        start = self._next_data(position, end)
        if start >= end:
            return end, end
        return start, min(os.lseek(self.fd, start, os.SEEK_HOLE), end)

    def _next_data(self, position, end):
        """The offset of the first byte of data at or after position,
        end if there is none before end."""
        try:
            return min(os.lseek(self.fd, position, os.SEEK_DATA), end)
        except OSError as error:
            if error.errno == errno.ENXIO:
                # No data after position: the rest of the file is a hole.
                return end
            raise

    def _pread(self, view, offset):
        done = 0
        while done < len(view):
            count = os.preadv(self.fd, [view[done:]], offset + done)
            if not count:
                raise VolumeError(
                    'it ended at offset %d, before the %d bytes at offset '
                    '%d were read: it changed during the backup'
                    % (offset + done, len(view), offset))
            done += count

    # --- writing ---------------------------------------------------------

    def write(self, offset, data):
        view = memoryview(data)
        done = 0
        while done < len(view):
            done += os.pwrite(self.fd, view[done:], offset + done)
        with self._lock:
            self._written(offset, len(view))

    def zero(self, offset, length):
        if self.punches and self._punch(offset, length):
            return
        _write_zeros(self.write, offset, length)

    def _punch(self, offset, length):
        """Whether the range was punched (or zeroed by the device)."""
        if self.is_file:
            punch = disk.punch_hole
        elif (offset | length) % disk.BLKZEROOUT_ALIGNMENT:
            # The device would refuse it: written for this range only.
            return False
        else:
            punch = disk.zero_out
        try:
            punch(self.fd, offset, length)
        except OSError as error:
            if error.errno not in disk.UNSUPPORTED:
                raise
            self.punches = False
            self.punch_error = error
            return False
        return True

    def _written(self, offset, length):
        """Start the writeback of what was written once enough has
        gathered, and wait for the range started before the last
        _WRITEBACK_AHEAD bytes: the final fsync then finds little left,
        and the dirty pages of a restore stay bounded."""
        if not self._writeback or not length:
            return
        self._unstarted = _cover(self._unstarted, offset, offset + length)
        self._unstarted_bytes += length
        if self._unstarted_bytes >= _WRITEBACK_START:
            self._start_writeback()

    def _start_writeback(self):
        low, high = self._unstarted
        try:
            disk.start_writeback(self.fd, low, high - low)
        except OSError as error:
            if error.errno not in disk.UNSUPPORTED | {errno.ESPIPE}:
                raise
            # The final fsync writes everything back instead.
            self._writeback = False
            return
        self._started = _cover(self._started, low, high)
        self._started_bytes += self._unstarted_bytes
        self._unstarted = None
        self._unstarted_bytes = 0
        if self._started_bytes < _WRITEBACK_AHEAD:
            return
        if self._previous is not None:
            low, high = self._previous
            disk.wait_writeback(self.fd, low, high - low)
        self._previous = self._started
        self._started = None
        self._started_bytes = 0

    def finish(self, size):
        with self._lock:
            if self._writeback and self._unstarted is not None:
                self._start_writeback()
        _extend_and_sync(self.fd, size)


def _cover(span, low, high):
    """The smallest range holding span (None for nothing) and [low,
    high)."""
    if span is None:
        return low, high
    return min(span[0], low), max(span[1], high)


def _clear(view):
    for start in range(0, len(view), len(_ZERO_FILL)):
        piece = view[start:start + len(_ZERO_FILL)]
        piece[:] = _ZERO_FILL[:len(piece)]
