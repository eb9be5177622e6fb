import heapq
import itertools


class TaskQueue:
    """Tasks ordered by priority (lowest first); equal priorities run in insertion order."""

    def __init__(self):
        self._heap = []
        self._counter = itertools.count()
        self._removed = set()

    def push(self, task, priority=0):
        entry = (priority, next(self._counter), task)
        heapq.heappush(self._heap, entry)

    def pop(self):
