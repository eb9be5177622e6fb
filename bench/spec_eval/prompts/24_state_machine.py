class TransitionError(Exception):
    pass


class TrafficLight:
    TRANSITIONS = {
        "red": "green",
        "green": "yellow",
        "yellow": "red",
    }
    DURATIONS = {"red": 30, "green": 25, "yellow": 5}

    def __init__(self, state="red"):
        if state not in self.TRANSITIONS:
            raise TransitionError(f"unknown state {state!r}")
        self.state = state
        self.elapsed = 0

    def tick(self, seconds=1):
