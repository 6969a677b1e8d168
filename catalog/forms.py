from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from catalog.models import Category, Currency


class ProductForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(
        max_length=5000, required=False, widget=forms.Textarea(attrs={"rows": 5})
    )
    category = forms.ModelChoiceField(queryset=Category.objects.all(), empty_label=_("Choose..."))
    price = forms.DecimalField(max_digits=10, decimal_places=2, min_value=Decimal("0.01"))
    currency = forms.ChoiceField(choices=Currency.choices, initial=Currency.USD)
    stock = forms.IntegerField(min_value=0, max_value=1_000_000, initial=1)
    image = forms.ImageField(
        required=False,
        help_text=_("JPEG, PNG, GIF or WebP, at most 5 MB."),
        widget=forms.ClearableFileInput,
    )
    is_active = forms.BooleanField(required=False, initial=True, label=_("On sale"))
    # The stock the edit form showed: a save applies only the seller's change to it, so
    # units bought while the form was open stay sold.
    stock_seen = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)
