"""`cart_count` for the navigation's cart badge, on every page."""

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from orders import selectors


def cart(request: HttpRequest) -> dict:
    def count() -> int:
        # Pages rendered before the session and auth middleware ran (some error pages)
        # have no cart to count.
        if not hasattr(request, "user") or not hasattr(request, "session"):
            return 0
        return selectors.cart_count(selectors.cart_of_request(request))

    # Lazy: only pages that show the badge pay for the query.
    return {"cart_count": SimpleLazyObject(count)}
