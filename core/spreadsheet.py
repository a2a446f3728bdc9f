"""Cells of the CSV files the portal hands out, safe to open in a spreadsheet."""

# Characters that make a spreadsheet treat a cell as a formula (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value):
    """A CSV cell that Excel/LibreOffice show as text, never evaluate: '=cmd… becomes text."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value
