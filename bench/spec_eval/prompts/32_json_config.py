import json
from pathlib import Path

DEFAULTS = {
    "host": "127.0.0.1",
    "port": 8080,
    "debug": False,
    "workers": 4,
}


class ConfigError(Exception):
    pass


def load_config(path):
    """Read a JSON config file, fill in the defaults and check the types of known keys."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ConfigError("the top level must be an object")
    config = dict(DEFAULTS)
