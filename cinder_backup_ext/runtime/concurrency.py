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
ThreadPoolExecutor.

The rule of the two kinds of thread (doc/source/concurrency.rst):

- Steps on native workers do pure work only: files, buffers, hashing,
  compression, sealing.  They never log, take a green or coordination
  lock, run os-brick, processutils or privsep, or call into tpool-proxied
  objects: under eventlet those wait on green primitives that a native
  thread is never woken from (eventlet issue 432).
- Everything else runs on the operation's own thread (a green thread in
  cinder-backup), and that thread does no blocking I/O on the backup
  store: store calls go to native workers, so a hung share never stops the
  service's event loop.

When a step on a native worker finds that it needs something only the
operation's own thread may do (mount the share, fail over to another
address), it raises HandBack.  The operation's thread picks the request up
as soon as it waits for any step of its pool, runs the remedy there and
submits the same step again: the pipeline stays ordered and bounded, and
the first step that meets a dead server starts the failover, not the
oldest one, which may still be waiting on that server.
"""

import collections
import concurrent.futures
import threading
import time


def eventlet_patched():
    try:
        from eventlet import patcher
    except ImportError:
        return False
    return patcher.is_monkey_patched('thread')


def _native_threading():
    try:
        from eventlet import patcher
    except ImportError:
        return threading
    return patcher.original('threading')


# Set while a thread runs a step for NativeWorkers.  A native module's
# thread-local: under eventlet the patched one would be green-local.
_worker_state = _native_threading().local()


def on_native_worker():
    """True on a thread that runs a step for NativeWorkers."""
    return getattr(_worker_state, 'active', False)


def native_lock():
    """A lock of the OS, not a green one: safe to take on a native worker
    and on a green thread alike, as long as it is held only for a few
    instructions (a green thread that waits for it blocks its hub)."""
    return _native_threading().Lock()


def native_local():
    """A thread-local of the OS threads: under eventlet the patched
    threading.local is per green thread, which a native worker is not."""
    return _native_threading().local()


def _native_sleep():
    try:
        from eventlet import patcher
    except ImportError:
        return time.sleep
    return patcher.original('time').sleep


def sleep(seconds):
    """Wait without busy work, on whichever kind of thread this is.

    On a native worker the OS thread itself waits: eventlet's patched
    time.sleep would switch to a hub that thread does not run.  On the
    operation's own thread time.sleep is the right one either way: green
    under eventlet (the service keeps running), real without.
    """
    if on_native_worker():
        _native_sleep()(seconds)
    else:
        # Looked up at each call: eventlet patches the module in place.
        time.sleep(seconds)


def _run_as_worker(fn, args):
    _worker_state.active = True
    try:
        return fn(*args)
    finally:
        _worker_state.active = False


class HandBack(Exception):
    """Raised by a step on a native worker: remedy() must run on the
    operation's own thread, then the step runs again.

    cause is the error that made the remedy necessary (None if there was
    none); a step handed back more than limit times fails with it.
    """

    def __init__(self, remedy, cause=None, limit=1):
        super().__init__('step handed back: %s' % (cause,))
        self.remedy = remedy
        self.cause = cause
        self.limit = limit


def _report(outcomes, step, execute):
    """Run step through execute(fn, *args) and put its outcome on the
    queue the pool's owner reads: (step, True, value) or (step, False,
    exception)."""
    try:
        value = execute(_run_as_worker, step.fn, step.args)
    except BaseException as error:
        outcomes.put((step, False, error))
    else:
        outcomes.put((step, True, value))


def _here(fn, *args):
    return fn(*args)


class _TpoolWorkers(object):
    """Steps on eventlet's tpool; outcomes reported on a green queue."""

    def __init__(self, threads):
        import eventlet
        from eventlet import queue
        from eventlet import tpool
        self._eventlet = eventlet
        self._tpool = tpool
        self._slots = eventlet.semaphore.Semaphore(threads)
        self.outcomes = queue.LightQueue()

    def _run(self, step):
        # A green thread: it may touch the green queue, the native thread
        # it waits for may not.
        with self._slots:
            _report(self.outcomes, step, self._tpool.execute)

    def start(self, step):
        self._eventlet.spawn_n(self._run, step)

    def shutdown(self):
        pass


class _ThreadWorkers(object):
    """Steps on a ThreadPoolExecutor; outcomes reported on a queue."""

    def __init__(self, threads):
        import queue
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix='cinder-backup-ext')
        self.outcomes = queue.SimpleQueue()

    def start(self, step):
        self._pool.submit(_report, self.outcomes, step, _here)

    def shutdown(self):
        self._pool.shutdown(wait=True)


class Step(object):
    """One call submitted to NativeWorkers; result() waits for it."""

    def __init__(self, workers, fn, args):
        self.fn = fn
        self.args = args
        self._workers = workers
        self._handbacks = 0
        self.settled = False
        self._ok = None
        self._value = None

    def result(self):
        """The call's return value, or its exception raised here."""
        self._workers.wait_for(self, remedies=True)
        return self._outcome()

    def wait(self):
        """Wait for the step without running what it hands back; ignore
        its outcome (cleaning up after a failure)."""
        self._workers.wait_for(self, remedies=False)

    def _outcome(self):
        if self._ok:
            return self._value
        raise self._value

    def settle(self, ok, value, remedies):
        """Take an outcome reported by a worker; False if the step runs
        again."""
        if not ok and isinstance(value, HandBack):
            self._handbacks += 1
            if remedies and self._handbacks <= value.limit:
                try:
                    value.remedy()
                except Exception as error:
                    ok, value = False, error
                else:
                    return False
            else:
                value = value.cause or value
        self.settled, self._ok, self._value = True, ok, value
        return True


class NativeWorkers(object):
    """A pool of OS threads; submit() returns a Step.

    Results are collected, and hand-backs served, by the one thread that
    owns the pool: the operation's.
    """

    def __init__(self, threads):
        impl = _TpoolWorkers if eventlet_patched() else _ThreadWorkers
        self._impl = impl(max(1, threads))

    def submit(self, fn, *args):
        step = Step(self, fn, args)
        self._impl.start(step)
        return step

    def call(self, fn, *args):
        """Run fn on a native thread and wait for it."""
        return self.submit(fn, *args).result()

    def wait_for(self, wanted, remedies):
        """Serve the pool's outcomes until wanted has settled: whichever
        step hands something back is served at once, the others keep
        their outcome until their result() is asked for."""
        while not wanted.settled:
            step, ok, value = self._impl.outcomes.get()
            if not step.settle(ok, value, remedies):
                self._impl.start(step)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self._impl.shutdown()
        return False


def run_native(fn, *args):
    """fn(*args) off the event loop, for a single blocking call made on an
    operation's own thread outside a pipeline (share marker I/O during a
    mount).  Without eventlet that thread is a real one already."""
    if not eventlet_patched():
        return fn(*args)
    from eventlet import tpool
    return tpool.execute(_run_as_worker, fn, args)


class _Done(object):
    """A result computed on the caller's thread, in a Step's place."""

    def __init__(self, value):
        self._value = value

    def result(self):
        return self._value

    def wait(self):
        pass


def ordered_map(workers, fn, items, depth, here=None):
    """Yield fn(item) for each item, in order, with up to depth in flight.

    The caller's loop (reading the volume, writing results) overlaps with
    the workers, and memory stays bounded by depth items.  However the
    caller stops, every call already started is waited for, so nothing runs
    on behind a cleanup.  Items for which here(item) is true are computed
    on the caller's thread: work too small for a round trip to a worker,
    which must then be pure (no I/O, no logging).
    """
    pending = collections.deque()
    try:
        for item in items:
            if here is not None and here(item):
                pending.append(_Done(fn(item)))
            else:
                pending.append(workers.submit(fn, item))
            if len(pending) >= depth:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        # Already failing: the first error is the one to report, and
        # nothing the other steps hand back is worth doing any more.
        while pending:
            pending.popleft().wait()
