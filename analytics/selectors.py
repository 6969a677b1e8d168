"""The seller's numbers: per shopping room and per product, read in a fixed number of queries
(aggregates, never one query per room or product).

Where each number comes from:
- peak viewers, unique viewers: the room socket (rooms/consumers.py) keeps them in the room
  store and persists them on the room with the same coalesced write; for a live room the
  store's fresher unique count is used. Unique viewers are recorded only while the room is
  live (the seller never). Over all shows, peak viewers is the best show's peak (a maximum).
- chat messages: ShoppingRoom.total_chat_messages (rooms.services.chat_message_record).
- add-to-carts: ShoppingRoom.total_add_to_carts: a cart line put in the cart from the room
  while it was live, once per cart line and room (orders.services.cart_add with the room).
- orders, revenue, units: order lines attributed to the room (OrderItem.room, carried from
  the cart line at checkout) of orders that were paid: paid, shipped or delivered. Pending,
  cancelled and refunded orders do not count. Revenue is per currency.
- conversion: orders / unique viewers (None when nobody watched).
"""

import logging
from dataclasses import dataclass, field
from decimal import Decimal

from asgiref.sync import async_to_sync
from django.db.models import Count, DecimalField, ExpressionWrapper, F, Max, Q, QuerySet, Sum

from accounts.models import User
from orders.models import Order, OrderItem
from rooms.models import ShoppingRoom
from rooms.store import get_store

logger = logging.getLogger(__name__)

# Orders whose lines count as sold (a refund or cancellation takes them out again).
SOLD_STATUSES = (Order.Status.PAID, Order.Status.SHIPPED, Order.Status.DELIVERED)
DASHBOARD_ROOMS = 50  # the rooms table: the latest shows
CHART_ROOMS = 12  # the chart: the latest shows that went live
TOP_PRODUCTS = 10

LINE_TOTAL = ExpressionWrapper(
    F("unit_price") * F("quantity"), output_field=DecimalField(max_digits=14, decimal_places=2)
)


@dataclass(frozen=True)
class Money:
    currency: str
    amount: Decimal

    def __str__(self) -> str:
        return f"{self.amount:.2f} {self.currency}"


@dataclass
class RoomStats:
    room: ShoppingRoom
    peak_viewers: int = 0
    unique_viewers: int = 0
    chat_messages: int = 0
    add_to_carts: int = 0
    orders: int = 0
    units: int = 0
    revenue: list[Money] = field(default_factory=list)  # one entry per currency, sorted

    @property
    def conversion(self) -> Decimal | None:
        """Orders per unique viewer (a fraction: 0.25 is 25 %); None when nobody watched."""
        if not self.unique_viewers:
            return None
        return (Decimal(self.orders) / Decimal(self.unique_viewers)).quantize(Decimal("0.0001"))

    @property
    def conversion_percent(self) -> Decimal | None:
        conversion = self.conversion
        return None if conversion is None else (conversion * 100).quantize(Decimal("0.1"))

    def revenue_in(self, currency: str) -> Decimal:
        return next((m.amount for m in self.revenue if m.currency == currency), Decimal("0"))


@dataclass
class ProductUnits:
    product_id: object
    name: str
    slug: str
    units: int  # overall (every paid order line), or the room's only on a room's page
    room_units: int  # of which from shopping rooms


@dataclass
class Dashboard:
    # `room` is None: the seller's shows summed up, except peak_viewers: the best show's
    # peak (a sum of peaks counts no audience that ever existed).
    totals: RoomStats
    rooms: list[RoomStats]
    products: list[ProductUnits]
    chart_currency: str | None
    chart_rooms: list[RoomStats]
    room_count: int


def sold_lines() -> QuerySet[OrderItem]:
    return OrderItem.objects.filter(order__status__in=SOLD_STATUSES)


def _live_unique_viewers(room_ids: list) -> dict:
    """The room store's distinct-viewer counts of live rooms (fresher than the database,
    which catches up at the next viewer-count change). A store hiccup leaves the database's
    numbers: the page must not fail for it."""
    if not room_ids:
        return {}
    store = get_store()
    try:
        counts = async_to_sync(store.viewers_seen)([str(pk) for pk in room_ids])
    except Exception:
        logger.warning("could not read unique viewers from the room store", exc_info=True)
        return {}
    return dict(zip(room_ids, counts, strict=True))


def _stats(rooms: list[ShoppingRoom], sales: QuerySet[OrderItem]) -> list[RoomStats]:
    """RoomStats of `rooms`: two queries (the rooms were read already, plus one aggregate)."""
    by_room = {
        room.pk: RoomStats(
            room=room,
            peak_viewers=room.peak_viewers,
            unique_viewers=room.unique_viewers,
            chat_messages=room.total_chat_messages,
            add_to_carts=room.total_add_to_carts,
        )
        for room in rooms
    }
    live = _live_unique_viewers([room.pk for room in rooms if room.is_live])
    for pk, count in live.items():
        by_room[pk].unique_viewers = max(by_room[pk].unique_viewers, count)
    rows = (
        sales.filter(room__in=list(by_room))
        .values("room_id", "currency")
        .annotate(
            orders=Count("order", distinct=True), units=Sum("quantity"), revenue=Sum(LINE_TOTAL)
        )
        .order_by("room_id", "currency")
    )
    for row in rows:
        stats = by_room[row["room_id"]]
        # An order has one currency, so orders counted per (room, currency) add up.
        stats.orders += row["orders"]
        stats.units += row["units"] or 0
        stats.revenue.append(Money(row["currency"], row["revenue"] or Decimal("0")))
    return list(by_room.values())


def room_stats(*, room: ShoppingRoom) -> RoomStats:
    return _stats([room], sold_lines())[0]


def product_units_sold(
    *, seller: User, room: ShoppingRoom | None = None, limit: int | None = None
) -> list[ProductUnits]:
    """The seller's products by units sold (most first). With `room`, only what was bought
    from that room. One query."""
    lines = sold_lines().filter(seller=seller)
    if room is not None:
        lines = lines.filter(room=room)
    rows = (
        lines.values("product_id", "product__name", "product__slug")
        .annotate(units=Sum("quantity"), room_units=Sum("quantity", filter=Q(room__isnull=False)))
        .order_by("-units", "product__name", "product_id")
    )
    if limit is not None:
        rows = rows[:limit]
    return [
        ProductUnits(
            product_id=row["product_id"],
            name=row["product__name"],
            slug=row["product__slug"],
            units=row["units"] or 0,
            room_units=row["room_units"] or 0,
        )
        for row in rows
    ]


def seller_dashboard(*, seller: User) -> Dashboard:
    """Everything the dashboard shows, in a fixed number of queries however many rooms and
    products the seller has."""
    rooms_qs = ShoppingRoom.objects.filter(seller=seller)
    rooms = list(rooms_qs.order_by("-scheduled_start", "-pk")[:DASHBOARD_ROOMS])
    stats = _stats(rooms, sold_lines())

    # Totals over all the seller's rooms (not only the ones listed).
    sums = rooms_qs.aggregate(
        rooms=Count("pk"),
        peak_viewers=Max("peak_viewers"),
        unique_viewers=Sum("unique_viewers"),
        chat_messages=Sum("total_chat_messages"),
        add_to_carts=Sum("total_add_to_carts"),
    )
    room_sales = sold_lines().filter(room__seller=seller)
    totals = RoomStats(
        room=None,
        peak_viewers=sums["peak_viewers"] or 0,
        unique_viewers=sums["unique_viewers"] or 0,
        chat_messages=sums["chat_messages"] or 0,
        add_to_carts=sums["add_to_carts"] or 0,
        orders=room_sales.aggregate(orders=Count("order", distinct=True))["orders"],
    )
    # Live rooms' fresher unique counts (live rooms are the latest, so listed above).
    totals.unique_viewers += sum(
        max(0, row.unique_viewers - row.room.unique_viewers) for row in stats if row.room.is_live
    )
    orders_in: dict[str, int] = {}  # paid orders per currency
    for row in (
        room_sales.values("currency")
        .annotate(
            orders=Count("order", distinct=True), units=Sum("quantity"), revenue=Sum(LINE_TOTAL)
        )
        .order_by("currency")
    ):
        totals.units += row["units"] or 0
        totals.revenue.append(Money(row["currency"], row["revenue"] or Decimal("0")))
        orders_in[row["currency"]] = row["orders"]

    # The chart: revenue of the latest shows that went live, oldest first, in the currency
    # the seller sells most in (the others are in the table). "Most" by paid orders, ties to
    # the larger revenue: amounts in different currencies cannot be compared (900 EUR
    # against 3 x 5 USD says nothing about where the seller sells), order counts can.
    chart_currency = (
        max(totals.revenue, key=lambda m: (orders_in[m.currency], m.amount)).currency
        if totals.revenue
        else None
    )
    started = [row for row in stats if row.room.status != ShoppingRoom.Status.SCHEDULED]
    chart_rooms = sorted(
        started[:CHART_ROOMS], key=lambda row: row.room.started_at or row.room.scheduled_start
    )
    return Dashboard(
        totals=totals,
        rooms=stats,
        products=product_units_sold(seller=seller, limit=TOP_PRODUCTS),
        chart_currency=chart_currency,
        chart_rooms=chart_rooms,
        room_count=sums["rooms"],
    )
