from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from orders import services


@receiver(user_logged_in)
def merge_visitor_cart(sender, request, user, **kwargs) -> None:
    if request is not None and hasattr(request, "session"):
        services.cart_merge_session_into_user(session=request.session, user=user)
