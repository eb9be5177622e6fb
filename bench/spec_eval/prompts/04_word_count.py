import sys
from collections import Counter


def words(text):
    for token in text.split():
        token = token.strip(".,;:!?\"'()").lower()
        if token:
            yield token


def main(argv):
    if len(argv) != 2:
        print("usage: word_count.py FILE", file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as handle:
