def read_ini(path):
    """Parse a minimal INI file into a dict of sections, each a dict of strings."""
    sections = {}
    current = None
    with open(path, encoding="utf-8") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("[") and line.endswith("]"):
