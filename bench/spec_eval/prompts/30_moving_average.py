from collections import deque


class MovingAverage:
    """Mean of the last `window` values pushed."""

    def __init__(self, window):
        if window < 1:
            raise ValueError("window must be at least 1")
        self.window = window
        self.values = deque()
        self.total = 0.0

    def push(self, value):
        self.values.append(value)
        self.total += value
        if len(self.values) > self.window:
