class Trie:
    """Prefix tree over strings, for autocompletion."""

    def __init__(self):
        self.children = {}
        self.terminal = False

    def insert(self, word):
        node = self
        for char in word:
            node = node.children.setdefault(char, Trie())
        node.terminal = True

    def contains(self, word):
        node = self._find(word)
        return node is not None and node.terminal

    def _find(self, prefix):
