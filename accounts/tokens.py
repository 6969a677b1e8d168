"""JWT refresh tokens that honour LiveShop's revocation list (see RevokedToken)."""

from django.utils.translation import gettext as _
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import RevokedToken


class RevocableRefreshToken(RefreshToken):
    def verify(self, *args, **kwargs) -> None:
        super().verify(*args, **kwargs)
        if RevokedToken.objects.filter(jti=self[api_settings.JTI_CLAIM]).exists():
            raise TokenError(_("Token is blacklisted"))
