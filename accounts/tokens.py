"""JWT refresh tokens that honour LiveShop's revocation list (see RevokedToken).

Every sign-in (a password exchanged for a token pair) gets a sign-in id, the `sid` claim: it
is kept through refresh-token rotation and copied into every access token of that sign-in,
so that logging the device out (accounts.services.user_logout_device) can also refuse that
sign-in's still-unexpired access tokens where it matters, at the socket handshake, and close
its open sockets. Tokens issued before the claim existed have no `sid` and are unaffected."""

import uuid

from django.utils.translation import gettext as _
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import RevokedToken

SIGN_IN_CLAIM = "sid"


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
    active user), and the token's sign-in must not have been logged out. Without this the
    API kept accepting a logged-out device's access token until it expired (up to 15 min)."""

    def get_validated_token(self, raw_token):
        token = super().get_validated_token(raw_token)
        if sign_in_revoked(token.get(SIGN_IN_CLAIM)):
            raise InvalidToken(
                {"detail": _("This sign-in has been logged out."), "code": "token_not_valid"}
            )
        return token
