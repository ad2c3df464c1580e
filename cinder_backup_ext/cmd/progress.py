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

"""Plain-text progress and throughput for the command's long phases.

On a terminal one line is redrawn in place; anywhere else (CI logs, pipes)
only the final line of each phase is printed, so logs stay one line per
phase.  Updates may come from native threads (the volume file is
tpool-wrapped, as in cinder-backup), so nothing here takes a lock: a torn
read of a counter only misdraws one frame.
"""

import sys
import time

MiB = 1024 * 1024


def format_bytes(nbytes):
    for unit, size in (('GiB', 1024 * MiB), ('MiB', MiB), ('KiB', 1024)):
        if abs(nbytes) >= size:
            return '%.1f %s' % (nbytes / size, unit)
    return '%d B' % nbytes


def format_rate(nbytes, seconds):
    if seconds <= 0:
        return '-- MiB/s'
    return '%.1f MiB/s' % (nbytes / MiB / seconds)


class Phase(object):
    """Progress of one phase that moves ``total`` bytes."""

    BAR_WIDTH = 24
    # Redrawing faster than the eye reads only costs CPU and, over ssh,
    # bandwidth.
    REDRAW_INTERVAL = 0.1

    def __init__(self, label, total, stream=None, interactive=None,
                 clock=time.monotonic):
        self.label = label
        self.total = max(0, int(total))
        self.stream = stream if stream is not None else sys.stdout
        if interactive is None:
            isatty = getattr(self.stream, 'isatty', None)
            interactive = bool(isatty and isatty())
        self.interactive = interactive
        self.clock = clock
        self.done = 0
        self.started = clock()
        self.elapsed = None
        self._last_draw = 0.0

    def advance_to(self, done):
        """Record that the phase has reached ``done`` bytes."""
        if done <= self.done:
            return
        self.done = min(done, self.total) if self.total else done
        if not self.interactive:
            return
        now = self.clock()
        if now - self._last_draw >= self.REDRAW_INTERVAL:
            self._last_draw = now
            self._draw(now - self.started)

    def add(self, nbytes):
        self.advance_to(self.done + nbytes)

    def _draw(self, seconds):
        fraction = (self.done / self.total) if self.total else 1.0
        filled = int(round(fraction * self.BAR_WIDTH))
        bar = '#' * filled + '.' * (self.BAR_WIDTH - filled)
        self.stream.write('\r%-22s [%s] %3d%% %s  %s ' % (
            self.label, bar, int(fraction * 100), format_bytes(self.done),
            format_rate(self.done, seconds)))
        self.stream.flush()

    def finish(self, detail=None):
        """End the phase; print its one-line result; return seconds."""
        self.elapsed = self.clock() - self.started
        line = '%-22s %10s in %6.2f s  %14s' % (
            self.label, format_bytes(self.total), self.elapsed,
            format_rate(self.total, self.elapsed))
        if detail:
            line += '  ' + detail
        if self.interactive:
            # Blank the redrawn bar fully before the final line.
            self.stream.write('\r\033[K')
        self.stream.write(line + '\n')
        self.stream.flush()
        return self.elapsed

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and self.interactive:
            # Keep the partial bar visible above the error message.
            self.stream.write('\n')
            self.stream.flush()
        return False
