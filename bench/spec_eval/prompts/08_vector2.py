import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Vector2:
    x: float
    y: float

    def __add__(self, other):
        return Vector2(self.x + other.x, self.y + other.y)

    def __sub__(self, other):
        return Vector2(self.x - other.x, self.y - other.y)

    def __mul__(self, scale):
        return Vector2(self.x * scale, self.y * scale)

    def length(self):
