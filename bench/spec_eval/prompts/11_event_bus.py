from collections import defaultdict


class EventBus:
    """Publish / subscribe by event name; handlers run in the order they subscribed."""

    def __init__(self):
        self._handlers = defaultdict(list)

    def subscribe(self, name, handler):
        self._handlers[name].append(handler)
        return lambda: self._handlers[name].remove(handler)

    def publish(self, name, *args, **kwargs):
