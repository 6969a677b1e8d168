"""The seller's numbers over the API: one room's (`GET /api/v1/rooms/<id>/stats/`, an action of
rooms.apis.RoomViewSet) and all the seller's shows (`GET /api/v1/seller/stats/`).
The same numbers as the dashboard pages (analytics.selectors)."""

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsSeller
from analytics import selectors
from rooms.selectors import public_id


@extend_schema_field(OpenApiTypes.STR if settings.USING_MONGODB else OpenApiTypes.INT)
class PublicIdField(serializers.ReadOnlyField):
    """An id as the rest of the API spells it: an integer, or an ObjectId string on MongoDB."""

    def to_representation(self, value):
        return public_id(value)


class MoneySerializer(serializers.Serializer):
    currency = serializers.CharField()
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)


class StatsRoomSerializer(serializers.Serializer):
    id = PublicIdField(source="pk")
    title = serializers.CharField()
    status = serializers.CharField()
    scheduled_start = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)


class NumbersSerializer(serializers.Serializer):
    peak_viewers = serializers.IntegerField(
        help_text="The most distinct people in the room at once."
    )
    unique_viewers = serializers.IntegerField(
        help_text="Distinct signed-in users and anonymous browsers who were on the room socket "
        "while the room was live (the seller excluded)."
    )
    chat_messages = serializers.IntegerField()
    add_to_carts = serializers.IntegerField(
        help_text="Cart lines put in a cart from the room while it was live (once per cart line "
        "and room)."
    )
    orders = serializers.IntegerField(
        help_text="Paid (shipped, delivered) orders with a line bought from the room."
    )
    units = serializers.IntegerField(help_text="Units in those orders' lines from the room.")
    revenue = MoneySerializer(many=True, help_text="Sum of those lines, one entry per currency.")
    conversion = serializers.DecimalField(
        max_digits=10,
        decimal_places=4,
        allow_null=True,
        help_text="orders / unique_viewers as a fraction (0.25 is 25 %); null with no viewers.",
    )


class ProductUnitsSerializer(serializers.Serializer):
    id = PublicIdField(source="product_id")
    name = serializers.CharField()
    units = serializers.IntegerField()


class SellerProductUnitsSerializer(ProductUnitsSerializer):
    room_units = serializers.IntegerField(help_text="Of `units`, those bought from shows.")


class RoomStatsSerializer(NumbersSerializer):
    room = StatsRoomSerializer()
    products = ProductUnitsSerializer(many=True, help_text="Units sold from this room.")


class SellerRoomStatsSerializer(NumbersSerializer):
    room = StatsRoomSerializer()


class TotalsSerializer(NumbersSerializer):
    peak_viewers = serializers.IntegerField(
        help_text="The best show's peak (the largest of the shows' peaks, not their sum)."
    )


class SellerStatsSerializer(serializers.Serializer):
    totals = TotalsSerializer(
        help_text="All the seller's shows (unique viewers summed, peak viewers the best show's)."
    )
    room_count = serializers.IntegerField()
    rooms = SellerRoomStatsSerializer(many=True, help_text="The latest 50 shows, newest first.")
    products = SellerProductUnitsSerializer(many=True, help_text="Top 10 products by units.")


def room_stats_data(room) -> dict:
    stats = selectors.room_stats(room=room)
    products = selectors.product_units_sold(seller=room.seller, room=room)
    return RoomStatsSerializer({**_numbers(stats), "room": room, "products": products}).data


def _numbers(stats: selectors.RoomStats) -> dict:
    return {
        name: getattr(stats, name)
        for name in (
            "peak_viewers",
            "unique_viewers",
            "chat_messages",
            "add_to_carts",
            "orders",
            "units",
            "revenue",
            "conversion",
        )
    }


class SellerStatsApi(APIView):
    """The signed-in seller's numbers: totals, the latest shows, the top products."""

    permission_classes = [IsSeller]

    @extend_schema(responses={200: SellerStatsSerializer})
    def get(self, request):
        dashboard = selectors.seller_dashboard(seller=request.user)
        data = {
            "totals": _numbers(dashboard.totals),
            "room_count": dashboard.room_count,
            "rooms": [{**_numbers(row), "room": row.room} for row in dashboard.rooms],
            "products": dashboard.products,
        }
        return Response(SellerStatsSerializer(data).data)


class IsSellerOrStaff(IsSeller):
    """A room's numbers: its seller (another seller's room is not found) or staff."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and (user.is_seller or user.is_staff))
