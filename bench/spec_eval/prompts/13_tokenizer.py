import re
from typing import NamedTuple


class Token(NamedTuple):
    kind: str
    text: str
    position: int


TOKEN_PATTERNS = [
    ("NUMBER", r"\d+(\.\d+)?"),
    ("NAME", r"[A-Za-z_][A-Za-z0-9_]*"),
    ("OP", r"[+\-*/()=]"),
    ("SPACE", r"\s+"),
]
MASTER = re.compile("|".join(f"(?P<{name}>{pattern})" for name, pattern in TOKEN_PATTERNS))


def tokenize(source):
