"""``@event_handler``: nameko's, on the queue the relay declares."""

from __future__ import annotations

from nameko.events import EventHandler

from shared.topology import queue_arguments, queue_type_of


class PriorityEventHandler(EventHandler):
    """nameko's event handler on a priority queue, declared as the relay declares it
    (``shared.topology.queue_arguments``): urgent events overtake the others on
    classic queues; quorum queues are replicated instead."""

    def setup(self) -> None:
        super().setup()
        self.queue.queue_arguments = queue_arguments(queue_type_of(self.container.config))


event_handler = PriorityEventHandler.decorator
