"""Group commit: many handlers' appends, one transaction.

Each event handler hands its event to :meth:`GroupCommit.submit` and waits;
a single writer green thread takes whatever is queued (up to ``max_batch``),
appends it in one transaction and wakes every waiter with its result or the
error. The handler returns (and its message is acked) only after the commit.
A failed commit (the database down) makes the writer wait before the next
one, longer each time up to ``max_pause``: the requeued events come straight
back, and would otherwise hammer the database in a tight loop.
"""

import eventlet
from eventlet.event import Event
from eventlet.queue import Empty, LightQueue


class GroupCommit:
    def __init__(self, flush, max_batch=500, first_pause=0.1, max_pause=5.0):
        self.flush, self.max_batch = flush, max_batch
        self.first_pause, self.max_pause = first_pause, max_pause
        self.failures = 0  # failed commits in a row
        self._queue = LightQueue()
        self._running = False

    def submit(self, item):
        done = Event()
        self._queue.put((item, done))
        return done.wait()

    def run(self):
        self._running = True
        while self._running:
            try:
                batch = [self._queue.get(timeout=0.2)]
            except Empty:
                continue
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except Empty:
                    break
            try:
                results = self.flush([item for item, _ in batch])
            except Exception as err:  # each waiter's handler raises: its message is requeued
                for _, done in batch:
                    done.send_exception(err)
                self.failures += 1
                eventlet.sleep(min(self.first_pause * 2 ** (self.failures - 1), self.max_pause))
                continue
            self.failures = 0
            for (_, done), result in zip(batch, results):
                done.send(result)

    def stop(self):
        self._running = False
