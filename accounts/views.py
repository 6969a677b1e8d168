import logging

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView, redirect_to_login
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from accounts import login_throttle, selectors, services
from accounts.forms import LoginForm, ProfileForm, RegisterForm, ShopForm
from catalog.selectors import products_on_sale
from liveshop.errors import ApplicationError
from liveshop.forms import add_service_error
from rooms import selectors as room_selectors
from rooms.models import ShoppingRoom

logger = logging.getLogger(__name__)

Status = ShoppingRoom.Status
PROFILE_UPCOMING_ROOMS = 8
FEED_ROOMS_PER_PAGE = 24
FOLLOWED_SHOPS_SHOWN = 100


@require_http_methods(["GET", "POST"])
def register(request):
    if request.user.is_authenticated:
        return redirect("home")
    form = RegisterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.user_register(
                username=form.cleaned_data["username"],
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password1"],
            )
        except ValidationError as exc:
            if "password" in getattr(exc, "error_dict", {}):
                exc.error_dict["password1"] = exc.error_dict.pop("password")
            add_service_error(form, exc)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, _("Welcome to LiveShop, %(name)s!") % {"name": user.username})
            return redirect("home")
    return render(request, "accounts/register.html", {"form": form})


class ThrottledLoginView(LoginView):
    """Django's login page, refusing further tries after repeated failures (HTTP 429)."""

    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        username = request.POST.get("username", "")[:150]
        try:
            login_throttle.login_attempt_begin(
                username=username, ip=login_throttle.client_ip(request)
            )
        except login_throttle.LoginThrottled as exc:
            # An unbound form: reading a bound form's errors runs authenticate(), i.e.
            # the password would still be checked (hashed, logged) on a refused try.
            form = self.get_form_class()(self.request, initial={"username": username})
            form.cleaned_data = {}  # add_error() expects it; an unbound form has none
            form.add_error(None, str(exc))
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        # A wrong password stays counted (it was counted up front); a form that never got
        # as far as checking one (a missing field) gives the attempt back.
        if not (
            form.has_error(NON_FIELD_ERRORS, "invalid_login")
            or form.has_error(NON_FIELD_ERRORS, "inactive")
        ):
            login_throttle.login_attempt_withdrawn(**self._attempt())
        return super().form_invalid(form)

    def form_valid(self, form):
        login_throttle.login_attempt_succeeded(**self._attempt())
        return super().form_valid(form)

    def _attempt(self) -> dict[str, str]:
        return {
            "username": self.request.POST.get("username", "")[:150],
            "ip": login_throttle.client_ip(self.request),
        }


@login_required
@require_http_methods(["GET", "POST"])
def profile(request):
    user = request.user
    initial = {"display_name": user.display_name, "email": user.email}
    form = ProfileForm(request.POST or None, request.FILES or None, initial=initial)
    shop_form = ShopForm(initial={"shop_name": user.shop_name, "bio": user.bio}, prefix="shop")
    if request.method == "POST" and "shop-shop_name" in request.POST and user.is_seller:
        shop_form = ShopForm(request.POST, prefix="shop")
        form = ProfileForm(initial=initial)
        if shop_form.is_valid():
            try:
                services.user_update_profile(user=user, **shop_form.cleaned_data)
            except (ValidationError, ApplicationError) as exc:
                add_service_error(shop_form, exc)
            else:
                messages.success(request, _("Your shop is updated."))
                return redirect("accounts:profile")
    elif request.method == "POST" and form.is_valid():
        try:
            services.user_update_profile(user=user, **form.cleaned_data)
        except (ValidationError, ApplicationError) as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, _("Your profile is updated."))
            return redirect("accounts:profile")
    if request.method == "POST":
        user.refresh_from_db()  # a refused change must not show as if it were saved
    return render(request, "accounts/profile.html", {"form": form, "shop_form": shop_form})


@login_required
@require_http_methods(["GET", "POST"])
def become_seller(request):
    if request.user.is_seller:
        messages.info(request, _("You already have a shop."))
        return redirect("catalog:seller-products")
    form = ShopForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.user_become_seller(user=request.user, **form.cleaned_data)
        except (ValidationError, ApplicationError) as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, _("Your shop is open. Add your first product!"))
            return redirect("catalog:seller-product-create")
    return render(request, "accounts/become_seller.html", {"form": form})


# --- sellers and following ---------------------------------------------------------------


@require_safe
def seller_profile(request, username: str):
    seller = get_object_or_404(selectors.active_sellers(), username=username)
    products = products_on_sale().filter(seller=seller)[:48]
    live_rooms = selectors.seller_rooms(seller=seller, status=Status.LIVE)
    upcoming_rooms = selectors.seller_rooms(seller=seller, status=Status.SCHEDULED)
    context = {
        "seller": seller,
        "products": products,
        "live_rooms": room_selectors.with_viewer_counts(live_rooms),
        "upcoming_rooms": upcoming_rooms[:PROFILE_UPCOMING_ROOMS],
        "follower_count": selectors.follower_count(seller),
        "is_following": selectors.is_following(follower=request.user, seller=seller),
    }
    return render(request, "accounts/seller_profile.html", context)


def _back(request, seller) -> str:
    """Where a follow button leads back to: the page it was on (`next`, same site only),
    else the seller's profile."""
    url = request.POST.get("next") or ""
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return reverse("seller-profile", args=[seller.username])


@require_POST
def seller_follow(request, username: str):
    """The Follow button. Signed-out visitors are sent to log in, then back to the shop."""
    if not request.user.is_authenticated:
        return redirect_to_login(reverse("seller-profile", args=[username]))
    seller = get_object_or_404(selectors.active_sellers(), username=username)
    try:
        created = services.seller_follow(follower=request.user, seller=seller)[1]
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        if created:
            name = seller.shop_name or seller.username
            messages.success(
                request, _("You follow %(name)s: their shows appear in Following.") % {"name": name}
            )
    return redirect(_back(request, seller))


@require_POST
def seller_unfollow(request, username: str):
    if not request.user.is_authenticated:
        return redirect_to_login(reverse("seller-profile", args=[username]))
    seller = get_object_or_404(selectors.active_sellers(), username=username)
    if services.seller_unfollow(follower=request.user, seller=seller):
        name = seller.shop_name or seller.username
        messages.success(request, _("You no longer follow %(name)s.") % {"name": name})
    return redirect(_back(request, seller))


@login_required
@require_safe
def following(request):
    """Live and upcoming shows of the sellers the user follows (live first), and the shops."""
    page = Paginator(selectors.feed_rooms(request.user), FEED_ROOMS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    rooms = room_selectors.with_viewer_counts(page.object_list)
    follows = selectors.follows_of(request.user)
    return render(
        request,
        "accounts/following.html",
        {
            "page": page,
            "live_rooms": [room for room in rooms if room.is_live],
            "upcoming_rooms": [room for room in rooms if not room.is_live],
            "follows": follows[:FOLLOWED_SHOPS_SHOWN],
            "follow_count": follows.count(),
        },
    )
