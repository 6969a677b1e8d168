"""`{{ amount|money:currency }}`: a price as the active locale writes it.

Registered as the `money` library in settings.TEMPLATES (liveshop is no app of its own), so
templates say `{% load money %}`. English gets "24.50 USD", German or French "24,50 USD": the
decimal separator (and grouping, when USE_THOUSAND_SEPARATOR is on) come from Django's format
files for the active language, so a new language needs no change here. The currency code
stays after the amount, as everywhere on the site, so a price reads the same in every
language and the code is never mistaken for a symbol another country also uses."""

from decimal import Decimal, InvalidOperation

from django import template
from django.utils.formats import number_format

register = template.Library()


def format_money(amount, currency: str = "") -> str:
    """The amount with two decimals in the active locale, then the currency code."""
    if amount is None or amount == "":
        return ""
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        return str(amount)  # never a 500 over a display detail
    text = number_format(value, decimal_pos=2)
    return f"{text} {currency}" if currency else text


@register.filter(name="money")
def money(amount, currency: str = "") -> str:
    return format_money(amount, currency)
