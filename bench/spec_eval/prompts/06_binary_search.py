def lower_bound(items, target):
    """Index of the first element of the sorted list `items` that is not less than `target`."""
    lo, hi = 0, len(items)
    while lo < hi:
        mid = (lo + hi) // 2
        if items[mid] < target:
            lo = mid + 1
        else:
            hi = mid
    return lo


def upper_bound(items, target):
    """Index of the first element of the sorted list `items` that is greater than `target`."""
