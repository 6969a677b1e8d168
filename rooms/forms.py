import re

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts.models import User
from catalog.models import Product
from liveshop.templatetags.money import format_money

MAX_MODERATORS = 20
# <input type="datetime-local"> sends and expects this shape (no seconds, no zone).
DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


class ProductChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, product: Product) -> str:
        return f"{product.name} · {format_money(product.price, product.currency)}"


class RoomForm(forms.Form):
    """A seller's show. The products offered are the seller's own products on sale; the
    service checks that again, since a form's choices are only a convenience."""

    title = forms.CharField(max_length=120, label=_("Title"))
    description = forms.CharField(
        max_length=2000,
        required=False,
        label=_("Description"),
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    scheduled_start = forms.DateTimeField(
        label=_("Scheduled start"),
        input_formats=[DATETIME_LOCAL, "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_LOCAL),
    )
    cover_image = forms.ImageField(
        required=False,
        label=_("Cover image"),
        help_text=_("JPEG, PNG, GIF or WebP, at most 5 MB. Shown on the room's card."),
        widget=forms.ClearableFileInput,
    )
    products = ProductChoiceField(
        queryset=Product.objects.none(),
        required=False,
        label=_("Products in this show"),
        widget=forms.CheckboxSelectMultiple,
    )
    moderators = forms.CharField(
        max_length=1000,
        required=False,
        label=_("Moderators"),
        help_text=_(
            "Usernames, separated by commas. Moderators can spotlight products, "
            "manage the queue and moderate the chat."
        ),
        widget=forms.TextInput(attrs={"autocapitalize": "none", "spellcheck": "false"}),
    )

    def __init__(self, *args, seller: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.seller = seller
        self.fields["products"].queryset = Product.objects.filter(
            seller=seller, is_active=True
        ).order_by("name")
        # Times are typed and shown in the site's time zone: say which one it is.
        self.fields["scheduled_start"].help_text = _("Time zone: %(zone)s.") % {
            "zone": timezone.get_current_timezone_name()
        }

    def clean_moderators(self) -> list[User]:
        names = [name for name in re.split(r"[,\s]+", self.cleaned_data["moderators"]) if name]
        names = list(dict.fromkeys(name.lstrip("@") for name in names))  # dedupe, keep order
        if len(names) > MAX_MODERATORS:
            raise forms.ValidationError(
                _("At most %(limit)d moderators per room.") % {"limit": MAX_MODERATORS}
            )
        found = {user.username: user for user in User.objects.filter(username__in=names)}
        found = {name: user for name, user in found.items() if user.is_active}
        unknown = [name for name in names if name not in found]
        if unknown:
            raise forms.ValidationError(
                ngettext(
                    "No user is called %(names)s.",
                    "No users are called %(names)s.",
                    len(unknown),
                )
                % {"names": ", ".join(unknown)}
            )
        return [found[name] for name in names if found[name].pk != self.seller.pk]


def moderators_text(users) -> str:
    """A room's moderators as the form's text field shows them."""
    return ", ".join(user.username for user in users)
