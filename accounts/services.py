"""Every write to accounts goes through here (pages, API and commands alike)."""

from datetime import UTC, datetime

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings

from accounts.models import Follow, RevokedToken, User
from accounts.tokens import (
    PASSWORD_CHANGED,
    SIGN_IN_CLAIM,
    RevocableRefreshToken,
    sign_in_marker,
    token_password_current,
)
from liveshop.errors import ApplicationError, NotFoundError
from liveshop.images import normalize_image
from liveshop.websocket import sockets_sign_out_on_commit


def _email_taken(email: str, *, exclude: User | None = None) -> bool:
    users = User.objects.filter(email__iexact=email)
    if exclude is not None:
        users = users.exclude(pk=exclude.pk)
    return users.exists()


def user_register(
    *, username: str, email: str, password: str, enforce_password_rules: bool = True
) -> User:
    """Create a buyer account. Role and staff flags are never taken from the caller.
    Only seed_demo turns the password rules off (its demo password is simple on purpose)."""
    username = username.strip()
    email = User.objects.normalize_email(email.strip())
    errors: dict[str, list[str]] = {}
    user = User(username=username, email=email, role=User.Role.BUYER)
    try:
        user.full_clean(exclude=["password"])
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if not email:
        errors.setdefault("email", []).append("An email address is required.")
    else:
        try:
            validate_email(email)
        except ValidationError as exc:
            errors.setdefault("email", []).extend(exc.messages)
    if email and "email" not in errors and _email_taken(email):
        errors.setdefault("email", []).append("An account with this email already exists.")
    if "username" not in errors and User.objects.filter(username__iexact=username).exists():
        errors["username"] = ["A user with that username already exists."]
    try:
        if enforce_password_rules:
            validate_password(password, user=user)
    except ValidationError as exc:
        errors["password"] = exc.messages
    if errors:
        raise ValidationError({field: list(dict.fromkeys(msgs)) for field, msgs in errors.items()})
    user.set_password(password)
    user.save()
    return user


def staff_user_create(*, username: str, email: str, password: str) -> User:
    """A staff account for Django admin (used by seed_demo; production uses createsuperuser)."""
    return User.objects.create_user(
        username=username, email=email, password=password, is_staff=True, is_superuser=True
    )


def user_update_profile(
    *,
    user: User,
    display_name: str | None = None,
    email: str | None = None,
    avatar: UploadedFile | None = None,
    shop_name: str | None = None,
    bio: str | None = None,
) -> User:
    """Change what a user may change about themselves. Shop fields only for sellers."""
    if email is not None:
        email = User.objects.normalize_email(email.strip())
        validate_email(email)
        if _email_taken(email, exclude=user):
            raise ValidationError({"email": [_("An account with this email already exists.")]})
        user.email = email
    if display_name is not None:
        user.display_name = display_name.strip()
    if (shop_name is not None or bio is not None) and not user.is_seller:
        raise ApplicationError(
            _("Only sellers have a shop name and bio; become a seller first."), code="not_a_seller"
        )
    if shop_name is not None:
        user.shop_name = shop_name.strip()
        if not user.shop_name:
            raise ValidationError({"shop_name": [_("A shop needs a name.")]})
    if bio is not None:
        user.bio = bio.strip()
    if avatar is not None:
        user.avatar = normalize_image(avatar, field="avatar")
    user.full_clean(exclude=["password", "avatar"])
    user.save()
    return user


def user_become_seller(*, user: User, shop_name: str, bio: str = "") -> User:
    if user.is_seller:
        raise ApplicationError(_("You already have a shop."), code="already_seller", status=409)
    shop_name = shop_name.strip()
    if not shop_name:
        raise ValidationError({"shop_name": [_("A shop needs a name.")]})
    user.role = User.Role.SELLER
    user.shop_name = shop_name
    user.bio = bio.strip()
    user.full_clean(exclude=["password", "avatar"])
    user.save(update_fields=["role", "shop_name", "bio"])
    return user


def refresh_token_revoke(*, token: RevocableRefreshToken) -> None:
    """Put a (verified) refresh token on the revocation list.

    The unique jti makes this the arbiter when two requests race with the same token:
    exactly one revokes it, the other is told the token is no longer valid."""
    user_id = token.get(api_settings.USER_ID_CLAIM)
    try:
        with transaction.atomic():
            RevokedToken.objects.create(
                jti=token[api_settings.JTI_CLAIM],
                user=User.objects.filter(pk=user_id).first() if user_id else None,
                expires_at=datetime.fromtimestamp(token["exp"], tz=UTC),
            )
    except IntegrityError:
        raise TokenError(_("Token is blacklisted")) from None


def user_logout_device(*, refresh: str) -> None:
    """Log a device out: its refresh token can never be used again, nor can any token of the
    same sign-in (the `sid` claim, accounts/tokens.py): its access tokens are refused at the
    socket handshake and the sockets opened with them are closed (code 4401)."""
    try:
        token = RevocableRefreshToken(refresh)
        with transaction.atomic():
            refresh_token_revoke(token=token)
            sign_in = token.get(SIGN_IN_CLAIM)
            user_id = token.get(api_settings.USER_ID_CLAIM)
            if sign_in:
                RevokedToken.objects.get_or_create(
                    jti=sign_in_marker(str(sign_in)),
                    defaults={
                        "user": User.objects.filter(pk=user_id).first() if user_id else None,
                        "expires_at": datetime.fromtimestamp(token["exp"], tz=UTC),
                    },
                )
                if user_id:
                    sockets_sign_out_on_commit(user_id, sign_in=str(sign_in))
    except TokenError as exc:
        raise ApplicationError(str(exc), code="token_not_valid", status=401) from None


def user_sockets_sign_out(*, user_id, session_key: str | None = None) -> None:
    """Close the user's open sockets (after commit): those of one website session when
    `session_key` is given (a logout), else all of them (the account is no longer valid)."""
    sockets_sign_out_on_commit(user_id, session_key=session_key)


def user_deactivate(*, user: User) -> User:
    """Deactivate an account: it can no longer sign in, its sessions and tokens are refused,
    and its open sockets are closed (accounts.signals does that for every save of an
    inactive user, the admin's included)."""
    user.is_active = False
    user.save(update_fields=["is_active"])
    return user


def refresh_token_rotate(*, refresh: str) -> dict[str, str]:
    """Trade a refresh token for a new access token and a new refresh token; the old
    refresh token is revoked, so a stolen copy used after rotation fails. A token issued
    before the password changed is refused (the new pair carries the current `pwv`)."""
    token = RevocableRefreshToken(refresh)
    user_id = token.get(api_settings.USER_ID_CLAIM)
    user = User.objects.filter(pk=user_id, is_active=True).first() if user_id else None
    if user is None:
        raise TokenError(_("No active account found for the given token."))
    if not token_password_current(token, user):  # issued before the password changed
        raise TokenError(str(PASSWORD_CHANGED))
    refresh_token_revoke(token=token)
    # The new pair belongs to the same sign-in: logging it out later covers them all.
    sign_in = token.get(SIGN_IN_CLAIM)
    new_refresh = RevocableRefreshToken.for_user(user, sign_in=str(sign_in) if sign_in else None)
    return {"access": str(new_refresh.access_token), "refresh": str(new_refresh)}


def revoked_tokens_purge() -> int:
    """Forget revocations of tokens that have expired anyway."""
    deleted, _ = RevokedToken.objects.filter(expires_at__lt=timezone.now()).delete()
    return deleted


def seller_follow(*, follower: User, seller: User) -> tuple[Follow, bool]:
    """`follower` follows `seller`; following again changes nothing. Answers the follow and
    whether it is new. Only an active seller can be followed (anyone else is "no such
    seller", as the profile is), and never by themselves."""
    if not (seller.is_seller and seller.is_active):
        raise NotFoundError(_("No such seller."))
    if follower.pk == seller.pk:
        raise ApplicationError(_("You cannot follow yourself."), code="cannot_follow_self")
    # get_or_create survives a simultaneous follow (a double tap): the first one stands.
    return Follow.objects.get_or_create(follower=follower, seller=seller)


def seller_unfollow(*, follower: User, seller: User) -> bool:
    """`follower` stops following `seller`; answers whether there was a follow to remove
    (unfollowing twice, or someone never followed, changes nothing)."""
    deleted, _ = Follow.objects.filter(follower=follower, seller=seller).delete()
    return deleted > 0
