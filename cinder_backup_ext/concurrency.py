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

"""Native threads for the pipeline, with or without eventlet.

cinder-backup runs monkey-patched: its `threading` is green, so a green
"thread pool" would serialise hashing, compression and file I/O on one
core.  Under eventlet we hand work to eventlet's tpool (real OS threads)
and wait for it cooperatively; without eventlet we use a plain
ThreadPoolExecutor.  Work submitted here must not log (eventlet issue 432)
and must not call into tpool-proxied objects.
"""

import collections
import concurrent.futures


def eventlet_patched():
    try:
        from eventlet import patcher
    except ImportError:
        return False
    return patcher.is_monkey_patched('thread')


class _GreenFuture(object):
    def __init__(self, green_thread):
        self._green_thread = green_thread

    def result(self):
        return self._green_thread.wait()


class _TpoolWorkers(object):
    def __init__(self, threads):
        import eventlet
        from eventlet import tpool
        self._eventlet = eventlet
        self._tpool = tpool
        self._slots = eventlet.semaphore.Semaphore(threads)

    def _run(self, fn, args):
        with self._slots:
            return self._tpool.execute(fn, *args)

    def submit(self, fn, *args):
        return _GreenFuture(self._eventlet.spawn(self._run, fn, args))

    def shutdown(self):
        pass


class _ThreadWorkers(object):
    def __init__(self, threads):
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix='cinder-backup-ext')

    def submit(self, fn, *args):
        return self._pool.submit(fn, *args)

    def shutdown(self):
        self._pool.shutdown(wait=True)


class NativeWorkers(object):
    """A pool of OS threads; submit() returns an object with result()."""

    def __init__(self, threads):
        impl = _TpoolWorkers if eventlet_patched() else _ThreadWorkers
        self._impl = impl(max(1, threads))

    def submit(self, fn, *args):
        return self._impl.submit(fn, *args)

    def call(self, fn, *args):
        """Run fn on a native thread and wait for it."""
        return self.submit(fn, *args).result()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self._impl.shutdown()
        return False


def ordered_map(workers, fn, items, depth):
    """Yield fn(item) for each item, in order, with up to depth in flight.

    The caller's loop (reading the volume, writing results) overlaps with
    the workers, and memory stays bounded by depth items.  However the
    caller stops, every call already started is waited for, so nothing runs
    on behind a cleanup.
    """
    pending = collections.deque()
    try:
        for item in items:
            pending.append(workers.submit(fn, item))
            if len(pending) >= depth:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        while pending:
            # Already failing: the first error is the one to report.
            try:
                pending.popleft().result()
            except Exception:  # nosec B110
                pass
