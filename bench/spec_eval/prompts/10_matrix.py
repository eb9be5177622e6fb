class Matrix:
    """A dense matrix of floats stored as a list of rows."""

    def __init__(self, rows):
        if not rows or any(len(row) != len(rows[0]) for row in rows):
            raise ValueError("rows must be non-empty and of equal length")
        self.rows = [list(map(float, row)) for row in rows]

    @property
    def shape(self):
        return len(self.rows), len(self.rows[0])

    @classmethod
    def identity(cls, n):
        return cls([[1.0 if i == j else 0.0 for j in range(n)] for i in range(n)])

    def transpose(self):
        return Matrix([list(column) for column in zip(*self.rows)])

    def __matmul__(self, other):
