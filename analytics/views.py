"""The seller's numbers pages: the dashboard (every show, top products, a chart) and one
room's numbers. Seller pages like rooms.views' seller_*: another seller's room is simply
not found."""

from django.shortcuts import get_object_or_404, render
from django.utils.formats import date_format
from django.views.decorators.http import require_safe

from accounts.decorators import seller_required
from analytics import selectors
from analytics.charts import bar_chart
from rooms.models import ShoppingRoom

CHART_LABEL_CHARS = 12


def _chart(dashboard: selectors.Dashboard):
    if dashboard.chart_currency is None or not dashboard.chart_rooms:
        return None
    points = []
    for row in dashboard.chart_rooms:
        room = row.room
        when = date_format(room.started_at or room.scheduled_start, "SHORT_DATE_FORMAT")
        title = room.title
        short = title if len(title) <= CHART_LABEL_CHARS else f"{title[: CHART_LABEL_CHARS - 1]}…"
        points.append((short, f"{title} ({when})", row.revenue_in(dashboard.chart_currency)))
    return bar_chart(points)


@seller_required
@require_safe
def seller_dashboard(request):
    dashboard = selectors.seller_dashboard(seller=request.user)
    return render(
        request,
        "analytics/seller_dashboard.html",
        {"dashboard": dashboard, "chart": _chart(dashboard)},
    )


@seller_required
@require_safe
def seller_room_stats(request, pk: str):
    room = get_object_or_404(ShoppingRoom.objects.filter(seller=request.user), pk=pk)
    return render(
        request,
        "analytics/seller_room_stats.html",
        {
            "room": room,
            "stats": selectors.room_stats(room=room),
            "products": selectors.product_units_sold(seller=request.user, room=room),
        },
    )
