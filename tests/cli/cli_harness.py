"""What the mimo-cli test scripts share: running the CLI given as their first argument, recording
named checks, and exiting with their verdict."""
import subprocess
import sys

CLI = sys.argv[1]
failures = []


def run(*args):
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=300)


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        failures.append(what)


def finish():
    print(f"{len(failures)} failed" if failures else "all CLI checks passed")
    sys.exit(1 if failures else 0)
