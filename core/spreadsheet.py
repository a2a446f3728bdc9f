"""Cells of the CSV files the portal hands out, safe to open in a spreadsheet."""

# Characters that make a spreadsheet treat a cell as a formula (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value):
    """A CSV cell that Excel/LibreOffice show as text, never evaluate: '=cmd… becomes text."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


class SafeExportMixin:
    """For django-import-export resources: every exported cell is spreadsheet-safe."""

    def export_field(self, field, instance, **kwargs):
        return spreadsheet_safe(super().export_field(field, instance, **kwargs))
