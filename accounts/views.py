from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from accounts import login_throttle, services
from accounts.forms import LoginForm, ProfileForm, RegisterForm, ShopForm
from accounts.models import User
from catalog.selectors import products_on_sale
from liveshop.errors import ApplicationError
from liveshop.forms import add_service_error


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
            messages.success(request, f"Welcome to LiveShop, {user.username}!")
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
                messages.success(request, "Your shop is updated.")
                return redirect("accounts:profile")
    elif request.method == "POST" and form.is_valid():
        try:
            services.user_update_profile(user=user, **form.cleaned_data)
        except (ValidationError, ApplicationError) as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, "Your profile is updated.")
            return redirect("accounts:profile")
    if request.method == "POST":
        user.refresh_from_db()  # a refused change must not show as if it were saved
    return render(request, "accounts/profile.html", {"form": form, "shop_form": shop_form})


@login_required
@require_http_methods(["GET", "POST"])
def become_seller(request):
    if request.user.is_seller:
        messages.info(request, "You already have a shop.")
        return redirect("catalog:seller-products")
    form = ShopForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.user_become_seller(user=request.user, **form.cleaned_data)
        except (ValidationError, ApplicationError) as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, "Your shop is open. Add your first product!")
            return redirect("catalog:seller-product-create")
    return render(request, "accounts/become_seller.html", {"form": form})


def seller_profile(request, username: str):
    seller = get_object_or_404(User, username=username, role=User.Role.SELLER, is_active=True)
    products = products_on_sale().filter(seller=seller)[:48]
    return render(request, "accounts/seller_profile.html", {"seller": seller, "products": products})
