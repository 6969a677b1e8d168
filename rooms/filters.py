"""Room list filters, the query parameters of GET /api/v1/rooms/ (the room list page may
use them too, so that both speak the same parameters)."""

import django_filters
from django.utils.translation import gettext_lazy as _

from rooms.models import ShoppingRoom


class RoomFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=ShoppingRoom.Status.choices, label=_("Status"))
    seller = django_filters.CharFilter(
        field_name="seller__username", lookup_expr="iexact", max_length=150, label=_("Seller")
    )

    starts_after = django_filters.IsoDateTimeFilter(
        field_name="scheduled_start", lookup_expr="gte", label=_("Scheduled to start at or after")
    )
    starts_before = django_filters.IsoDateTimeFilter(
        field_name="scheduled_start", lookup_expr="lt", label=_("Scheduled to start before")
    )

    class Meta:
        model = ShoppingRoom
        fields = ["status", "seller", "starts_after", "starts_before"]
