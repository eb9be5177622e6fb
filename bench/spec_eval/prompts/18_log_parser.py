import re
from datetime import datetime

LINE = re.compile(
    r"(?P<time>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) "
    r"\[(?P<level>DEBUG|INFO|WARNING|ERROR)\] "
    r"(?P<message>.*)"
)


def parse_line(line):
    match = LINE.match(line)
    if match is None:
        return None
    return {
        "time": datetime.strptime(match["time"], "%Y-%m-%d %H:%M:%S"),
        "level": match["level"],
        "message": match["message"],
    }


def count_levels(lines):
