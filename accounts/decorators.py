from functools import wraps

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect
from django.utils.translation import gettext as _


def seller_required(view):
    """Seller pages: anonymous visitors go to login, buyers are offered to open a shop."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not request.user.is_seller:
            messages.info(request, _("Open your shop first: then you can sell."))
            return redirect("accounts:become-seller")
        return view(request, *args, **kwargs)

    return wrapper
