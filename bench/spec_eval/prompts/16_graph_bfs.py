from collections import deque


def shortest_path(adjacency, start, goal):
    """Fewest-edges path from `start` to `goal` in an unweighted graph given as a dict of lists.

    Returns the list of nodes on the path, or None when `goal` cannot be reached.
    """
    if start == goal:
        return [start]
    previous = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
