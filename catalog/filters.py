"""Product filters shared by the product list page and the API (same query parameters)."""

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from catalog.models import Category, Product


class _BooleanSelect(forms.NullBooleanSelect):
    """Reads `true` or `false` (any case; empty is no filter). Any other word is kept, so that
    the field refuses it, where Django's select would read it as "no filter" (or "2" as true)."""

    def value_from_datadict(self, data, files, name):
        raw = data.get(name)
        if raw in (None, ""):
            return None
        return {"true": True, "false": False}.get(raw.lower(), raw) if isinstance(raw, str) else raw


class _StrictNullBooleanField(forms.NullBooleanField):
    widget = _BooleanSelect

    def to_python(self, value):
        if value is None or isinstance(value, bool):
            return value
        raise ValidationError(_("Enter true or false."), code="invalid")


class StrictBooleanFilter(django_filters.BooleanFilter):
    """`?in_stock=maybe` answers 400 (the page shows the error) rather than no filter."""

    field_class = _StrictNullBooleanField


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
    in_stock = StrictBooleanFilter(method="filter_in_stock", label=_("In stock only"))
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
