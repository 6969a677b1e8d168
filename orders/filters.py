"""Order list filters: the query parameters of GET /api/v1/orders/ and /api/v1/seller/orders/."""

import django_filters
from django.utils.translation import gettext_lazy as _

from orders.models import Order


class OrderFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Order.Status.choices, label=_("Status"))

    class Meta:
        model = Order
        fields = ["status"]
