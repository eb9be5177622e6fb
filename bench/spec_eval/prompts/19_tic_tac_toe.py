LINES = [
    (0, 1, 2), (3, 4, 5), (6, 7, 8),
    (0, 3, 6), (1, 4, 7), (2, 5, 8),
    (0, 4, 8), (2, 4, 6),
]


class Board:
    def __init__(self):
        self.cells = [" "] * 9
        self.turn = "X"

    def play(self, index):
        if self.cells[index] != " ":
            raise ValueError("cell already taken")
        self.cells[index] = self.turn
        self.turn = "O" if self.turn == "X" else "X"

    def winner(self):
