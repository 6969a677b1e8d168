"""JWT refresh tokens that honour LiveShop's revocation list (see RevokedToken).

Every sign-in (a password exchanged for a token pair) gets a sign-in id, the `sid` claim: it
is kept through refresh-token rotation and copied into every access token of that sign-in,
so that logging the device out (accounts.services.user_logout_device) can also refuse that
sign-in's still-unexpired access tokens where it matters, at the socket handshake, and close
its open sockets. Tokens issued before the claim existed have no `sid` and are unaffected.

Tokens also carry the `pwv` claim, a short keyed digest of the account's password hash when
they were issued (`password_version`): once the password changes, every token issued before
is refused wherever a token is accepted (`token_password_current`), as a logged-out sign-in
is. Tokens issued before the claim existed have no `pwv` and are accepted as before."""

import uuid

from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import RevokedToken

SIGN_IN_CLAIM = "sid"
PASSWORD_VERSION_CLAIM = "pwv"
# Its own salt: the claim is readable by whoever holds the token, so it must never be Django's
# session auth hash (which signs website sessions in), nor anything without the secret key.
_PASSWORD_VERSION_SALT = "liveshop.tokens.password-version"
PASSWORD_CHANGED = gettext_lazy("This sign-in has been logged out: the password was changed.")


def password_version(user) -> str:
    """Changes whenever the user's password hash does (a new password, or none usable)."""
    return salted_hmac(_PASSWORD_VERSION_SALT, user.password, algorithm="sha256").hexdigest()[:16]


def token_password_current(token, user) -> bool:
    """Whether `token` was issued under `user`'s current password (`user` None: no such
    account). The one check behind every place a token is accepted: the REST API, refresh,
    verify, the socket handshake and `renew-token`. A token without the claim predates it."""
    claim = token.get(PASSWORD_VERSION_CLAIM)
    if claim is None:
        return True
    return user is not None and constant_time_compare(str(claim), password_version(user))


def sign_in_marker(sign_in: str) -> str:
    """The RevokedToken.jti that marks a whole sign-in as logged out (a jti never has ':')."""
    return f"sid:{sign_in}"


def sign_in_revoked(sign_in: str | None) -> bool:
    return sign_in is not None and RevokedToken.objects.filter(jti=sign_in_marker(sign_in)).exists()


class RevocableRefreshToken(RefreshToken):
    @classmethod
    def for_user(cls, user, *, sign_in: str | None = None):
        token = super().for_user(user)
        token[SIGN_IN_CLAIM] = sign_in or uuid.uuid4().hex
        token[PASSWORD_VERSION_CLAIM] = password_version(user)  # copied into access tokens
        return token

    def verify(self, *args, **kwargs) -> None:
        super().verify(*args, **kwargs)
        revoked = [self[api_settings.JTI_CLAIM]]
        if self.get(SIGN_IN_CLAIM):
            revoked.append(sign_in_marker(str(self[SIGN_IN_CLAIM])))
        if RevokedToken.objects.filter(jti__in=revoked).exists():
            raise TokenError(_("Token is blacklisted"))


class SignInJWTAuthentication(JWTAuthentication):
    """The REST API's Bearer authentication: simplejwt's checks (signature, expiry, type,
    active user), the token's sign-in must not have been logged out, and the password must
    not have changed since it was issued. Without this the API kept accepting a logged-out
    device's access token until it expired (up to 15 min)."""

    def get_validated_token(self, raw_token):
        token = super().get_validated_token(raw_token)
        if sign_in_revoked(token.get(SIGN_IN_CLAIM)):
            raise InvalidToken(
                {"detail": _("This sign-in has been logged out."), "code": "token_not_valid"}
            )
        return token

    def get_user(self, validated_token):
        user = super().get_user(validated_token)
        if not token_password_current(validated_token, user):
            raise InvalidToken({"detail": str(PASSWORD_CHANGED), "code": "token_not_valid"})
        return user
