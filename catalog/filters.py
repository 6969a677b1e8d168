"""Product filters shared by the product list page and the API (same query parameters)."""

import django_filters
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from catalog.models import Category, Product


class ProductFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_text", max_length=200, label=_("Search"))
    category = django_filters.ModelChoiceFilter(
        field_name="category",
        to_field_name="slug",
        queryset=Category.objects.all(),
        label=_("Category"),
    )
    min_price = django_filters.NumberFilter(
        field_name="price", lookup_expr="gte", min_value=0, label=_("Min price")
    )
    max_price = django_filters.NumberFilter(
        field_name="price", lookup_expr="lte", min_value=0, label=_("Max price")
    )
    in_stock = django_filters.BooleanFilter(method="filter_in_stock", label=_("In stock only"))
    seller = django_filters.CharFilter(
        field_name="seller__username", lookup_expr="iexact", max_length=150, label=_("Seller")
    )
    ordering = django_filters.OrderingFilter(
        fields=(("price", "price"), ("created_at", "created_at")),
        field_labels={
            "price": _("Price, low to high"),
            "-price": _("Price, high to low"),
            "created_at": _("Oldest"),
            "-created_at": _("Newest"),
        },
        label=_("Sort by"),
    )

    class Meta:
        model = Product
        fields = ["q", "category", "min_price", "max_price", "in_stock", "seller", "ordering"]

    def filter_text(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(name__icontains=value) | Q(description__icontains=value))

    def filter_in_stock(self, queryset, name, value):
        if value is True:
            return queryset.filter(stock__gt=0)
        if value is False:
            return queryset.filter(stock=0)
        return queryset
