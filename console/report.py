"""The registration and reset report inside the admin: a server-rendered SVG chart, the numbers
in a table, and the same numbers as CSV. No script, no CDN (the CSP forbids both)."""

import csv

from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _

from core.spreadsheet import spreadsheet_safe
from recovery import app_settings, reports
from recovery.status import STATUS_LABELS

from .scoping import admin_tenant

BAR_AREA_WIDTH = 360
BAR_HEIGHT = 22
BAR_GAP = 8
LABEL_WIDTH = 220
COLOURS = ["#2e7d32", "#f9a825", "#c62828", "#1565c0", "#6a1b9a"]


def bar_chart(bars):
    """[(label, value)] → geometry for the SVG template (bars scaled to the largest value)."""
    largest = max((value for _label, value in bars), default=0) or 1
    shapes = []
    for index, (label, value) in enumerate(bars):
        y = index * (BAR_HEIGHT + BAR_GAP)
        shapes.append({
            "label": label,
            "value": value,
            "y": y,
            "text_y": y + BAR_HEIGHT - 6,
            "width": round(BAR_AREA_WIDTH * value / largest) if value else 0,
            "colour": COLOURS[index % len(COLOURS)],
        })
    return {
        "bars": shapes,
        "height": max(len(bars), 1) * (BAR_HEIGHT + BAR_GAP),
        "width": LABEL_WIDTH + BAR_AREA_WIDTH + 60,
        "label_width": LABEL_WIDTH,
        "bar_height": BAR_HEIGHT,
    }


COLUMN_WIDTH = 30
COLUMN_GAP = 12
COLUMN_AREA_HEIGHT = 160
AXIS_LABEL_HEIGHT = 36


def weekly_chart(weeks):
    """[{"start", "new", "total"}] → geometry for a column chart of the registered users at each
    week's end, with the week's newly registered as the darker lower part of the column."""
    largest = max((week["total"] for week in weeks), default=0) or 1
    columns = []
    for index, week in enumerate(weeks):
        x = index * (COLUMN_WIDTH + COLUMN_GAP)
        total_height = round(COLUMN_AREA_HEIGHT * week["total"] / largest)
        new_height = round(COLUMN_AREA_HEIGHT * week["new"] / largest)
        columns.append({
            **week,
            "x": x,
            "text_x": x + COLUMN_WIDTH // 2,
            "total_y": COLUMN_AREA_HEIGHT - total_height,
            "total_height": total_height,
            "new_y": COLUMN_AREA_HEIGHT - new_height,
            "new_height": new_height,
            "value_y": max(COLUMN_AREA_HEIGHT - total_height - 4, 12),
        })
    return {
        "columns": columns,
        "column_width": COLUMN_WIDTH,
        "width": max(len(weeks), 1) * (COLUMN_WIDTH + COLUMN_GAP),
        "height": COLUMN_AREA_HEIGHT + AXIS_LABEL_HEIGHT,
        "axis_y": COLUMN_AREA_HEIGHT + 16,
        "colour_total": COLOURS[3],
        "colour_new": COLOURS[0],
    }


def report_tenant(request):
    """The org admin's own tenant; a platform superuser picks one with ?tenant=<id> (or all)."""
    tenant = admin_tenant(request)
    if tenant is not None:
        return tenant, []
    from tenants.models import Tenant

    tenants = list(Tenant.objects.order_by("name"))
    chosen = request.GET.get("tenant", "")
    return next((t for t in tenants if str(t.pk) == chosen), None), tenants


def report_view(request, site_context):
    tenant, tenant_choices = report_tenant(request)
    numbers = reports.report_numbers(tenant, refresh=request.GET.get("refresh") == "1")
    coverage = numbers["coverage"]
    reset_rows = reports.reset_table(numbers["resets"])
    lock_rows = reports.lock_table(numbers["resets"])
    coverage_rows = [(key, label, coverage[key]) for key, label in STATUS_LABELS.items()]
    weeks = numbers["weeks"]
    if request.GET.get("format") == "csv":
        return report_csv(tenant, coverage_rows, reset_rows, lock_rows, weeks)

    outcome_bars = [
        (f"{row['method']} – {outcome}", count)
        for row in reset_rows
        for outcome, count in zip(reports.RESET_OUTCOMES.values(), row["cells"], strict=True)
    ] + [(row["label"], row["count"]) for row in lock_rows]
    context = {
        **site_context,
        "title": _("Registration and reset report"),
        "tenant": tenant,
        "tenant_choices": tenant_choices,
        "coverage_rows": coverage_rows,
        "coverage_total": sum(count for _key, _label, count in coverage_rows),
        "coverage_chart": bar_chart([(label, count) for _key, label, count in coverage_rows]),
        "outcome_labels": list(reports.RESET_OUTCOMES.values()),
        "reset_rows": reset_rows,
        "lock_rows": lock_rows,
        "reset_chart": bar_chart(outcome_bars),
        "weeks": weeks,
        "weeks_chart": weekly_chart(weeks),
        "days": app_settings.REPORT_DAYS,
        "as_of": numbers["as_of"],
    }
    return TemplateResponse(request, "admin/portal_report.html", context)


def report_csv(tenant, coverage_rows, reset_rows, lock_rows, weeks):
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="registration-report.csv"'
    response.write("\ufeff")  # BOM: Excel (common in Japan) then reads the file as UTF-8
    writer = csv.writer(response)
    writer.writerow([_("Organisation"), spreadsheet_safe(str(tenant) if tenant else _("All"))])
    writer.writerow([])
    writer.writerow([_("Registration"), _("Users")])
    for key, _label, count in coverage_rows:
        writer.writerow([key, count])
    writer.writerow([])
    writer.writerow([_("Week starting"), _("Newly registered"), _("Registered at the week's end")])
    for week in weeks:
        writer.writerow([week["start"].date().isoformat(), week["new"], week["total"]])
    writer.writerow([])
    writer.writerow([
        _("Resets in the last %(days)d days") % {"days": app_settings.REPORT_DAYS},
        *reports.RESET_OUTCOMES.keys(),
        _("Total"),
    ])
    for row in reset_rows:
        writer.writerow([row["key"] or "other", *row["cells"], row["total"]])
    writer.writerow([])
    writer.writerow([
        _("Reset locks in the last %(days)d days") % {"days": app_settings.REPORT_DAYS}, "reset.locked",
    ])
    for row in lock_rows:
        writer.writerow([row["key"] or "other", row["count"]])
    return response
