import hashlib
import os


def file_digest(path, chunk_size=1 << 16):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(chunk_size)
            if not chunk:
                break
            digest.update(chunk)
    return digest.hexdigest()


def find_duplicates(root):
    """Groups of paths under `root` whose files have identical contents."""
    by_size = {}
    for directory, _, names in os.walk(root):
