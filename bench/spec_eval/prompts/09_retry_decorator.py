import functools
import time


def retry(times=3, delay=0.5, exceptions=(Exception,)):
    """Call the decorated function again when it raises, up to `times` attempts in all."""

    def decorate(function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            last_error = None
            for attempt in range(1, times + 1):
