"""The KPI area's records in the admin, read only: the runs of the refresh and rebuild (when,
what each rollup did, the error of a failed one) and the rollups' watermarks. Nothing here
changes a rollup: the beat refresh keeps them current, `manage.py rebuild_kpis` recomputes them.
The rollup tables themselves are not listed (millions of rows that only the pages read)."""

import json

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from omnichannel.admin_tools import BoundedListAdmin
from omnichannel.kpis.models import RollupRun, RollupWatermark


class ReadOnlyAdmin(BoundedListAdmin):
    """Records the services write: shown, never added, changed or deleted."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(RollupRun)
class RollupRunAdmin(ReadOnlyAdmin):
    list_display = ("started_at", "kind", "status", "finished_at", "duration", "rows")
    list_filter = ("kind", "status")
    date_hierarchy = "started_at"
    ordering = ("-started_at",)
    fields = ("kind", "status", "started_at", "finished_at", "duration", "counts_shown", "error")
    readonly_fields = fields

    @admin.display(description=_("duration"))
    def duration(self, run: RollupRun) -> str:
        if run.finished_at is None:
            return "—"
        return f"{(run.finished_at - run.started_at).total_seconds():,.1f} s"

    @admin.display(description=_("rows written"))
    def rows(self, run: RollupRun) -> str:
        # counts: {rollup: {"rows": n, "seconds": s}} (services.py)
        numbers = [done.get("rows", 0) for done in (run.counts or {}).values()]
        return f"{sum(numbers):,}" if numbers else "—"

    @admin.display(description=_("what each rollup did"))
    def counts_shown(self, run: RollupRun) -> str:
        return json.dumps(run.counts, ensure_ascii=False, indent=2, sort_keys=True)


@admin.register(RollupWatermark)
class RollupWatermarkAdmin(ReadOnlyAdmin):
    list_display = ("name", "last_id", "last_at", "updated_at")
    search_fields = ("name",)
    ordering = ("name",)
    fields = list_display
    readonly_fields = fields
