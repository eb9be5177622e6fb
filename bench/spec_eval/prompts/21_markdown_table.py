def render_table(headers, rows):
    """Render a Markdown table whose columns are padded to their widest cell."""
    cells = [[str(value) for value in row] for row in rows]
    widths = [len(header) for header in headers]
    for row in cells:
        if len(row) != len(headers):
            raise ValueError("every row needs one cell per header")
        for index, value in enumerate(row):
            widths[index] = max(widths[index], len(value))

    def line(values):
