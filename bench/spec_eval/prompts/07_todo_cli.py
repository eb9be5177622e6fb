import argparse
import json
import os

STORE = os.path.expanduser("~/.todo.json")


def load_tasks():
    if not os.path.exists(STORE):
        return []
    with open(STORE, encoding="utf-8") as handle:
        return json.load(handle)


def save_tasks(tasks):
    with open(STORE, "w", encoding="utf-8") as handle:
        json.dump(tasks, handle, indent=2)


def build_parser():
    parser = argparse.ArgumentParser(description="A tiny to-do list.")
    commands = parser.add_subparsers(dest="command", required=True)
