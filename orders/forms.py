"""Small forms of the cart, checkout and seller order pages. They only parse what was posted;
the services decide (stock, state) and their refusals become messages."""

from django import forms
from django.utils.translation import gettext_lazy as _

from liveshop.converters import PrimaryKeyConverter


class CartAddForm(forms.Form):
    # The same shape the URL converter accepts: a malformed id is "not found", never a
    # database error (an ObjectId on MongoDB, digits elsewhere).
    product_id = forms.RegexField(regex=rf"^{PrimaryKeyConverter.regex}$")
    # Limits are the service's to check: it says them in words the buyer can act on.
    quantity = forms.IntegerField(label=_("Quantity"), required=False)
    # The shopping room the add was made from (seller analytics); optional.
    room = forms.RegexField(
        regex=rf"^{PrimaryKeyConverter.regex}$",
        required=False,
        error_messages={"invalid": _("That is not a shopping room.")},
    )

    def clean_quantity(self) -> int:
        quantity = self.cleaned_data.get("quantity")
        return 1 if quantity is None else quantity


class CartQuantityForm(forms.Form):
    """One cart line: a new quantity (0 removes the line, as in most shops)."""

    quantity = forms.IntegerField(label=_("Quantity"))


class ShipForm(forms.Form):
    tracking_number = forms.CharField(
        label=_("Tracking number"),
        max_length=100,
        required=False,
        help_text=_("Optional: the buyer sees it on their order."),
    )
