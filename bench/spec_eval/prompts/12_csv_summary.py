import csv
import statistics


def summarize_column(path, column):
    """Count, mean, median and range of one numeric column of a CSV file with a header."""
    values = []
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if column not in reader.fieldnames:
            raise KeyError(column)
        for row in reader:
            cell = row[column].strip()
            if not cell:
                continue
