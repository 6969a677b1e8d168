"""Accounts API: registration, JWT tokens, logout, the signed-in user, becoming a seller."""

from collections.abc import Mapping

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.serializers import PasswordField, TokenObtainPairSerializer
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import UntypedToken
from rest_framework_simplejwt.views import TokenObtainPairView

from accounts import login_throttle, services
from accounts.models import RevokedToken, User
from accounts.tokens import RevocableRefreshToken


class UserSerializer(serializers.ModelSerializer):
    avatar_url = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "email",
            "display_name",
            "avatar_url",
            "role",
            "is_staff",
            "shop_name",
            "bio",
            "date_joined",
        ]
        read_only_fields = fields

    def get_avatar_url(self, user: User) -> str | None:
        if not user.avatar:
            return None
        request = self.context.get("request")
        return request.build_absolute_uri(user.avatar.url) if request else user.avatar.url


class RegisterInputSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)


class RegisterApi(APIView):
    """Create a buyer account. Any role or staff flag in the body is ignored."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(request=RegisterInputSerializer, responses={201: UserSerializer})
    def post(self, request):
        data = RegisterInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_register(**data.validated_data)
        return Response(
            UserSerializer(user, context={"request": request}).data, status=status.HTTP_201_CREATED
        )


class TokenObtainSerializer(TokenObtainPairSerializer):
    token_class = RevocableRefreshToken

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # simplejwt's PasswordField trims whitespace, but registration and the site login
        # keep it: a password with a leading or trailing space could never get a token.
        self.fields["password"] = PasswordField(trim_whitespace=False)


class TokenRefreshSerializer(serializers.Serializer):
    """Rotating refresh: the old refresh token is revoked (see services)."""

    refresh = serializers.CharField(max_length=2000, write_only=True)
    access = serializers.CharField(read_only=True)

    def validate(self, attrs):
        return services.refresh_token_rotate(refresh=attrs["refresh"])

    def to_representation(self, instance):
        return instance


class TokenVerifySerializer(serializers.Serializer):
    token = serializers.CharField(max_length=2000, write_only=True)

    def validate(self, attrs):
        token = UntypedToken(attrs["token"])
        if RevokedToken.objects.filter(jti=token.get(api_settings.JTI_CLAIM)).exists():
            raise TokenError("Token is blacklisted")
        return {}


class TokenObtainApi(TokenObtainPairView):
    """Username + password -> access and refresh tokens, with failed attempts throttled
    per account and per address (shared with the site's login form)."""

    def post(self, request, *args, **kwargs):
        # A JSON body may be a list, number, string or null, which have no .get(): that
        # answered 500. Count it under no username; the serializer then answers 400.
        data = request.data if isinstance(request.data, Mapping) else {}
        username = str(data.get("username", ""))[:150]
        ip = login_throttle.client_ip(request)
        try:
            login_throttle.login_attempt_begin(username=username, ip=ip)
        except login_throttle.LoginThrottled as exc:
            throttled = exceptions.Throttled(detail=str(exc))
            throttled.wait = exc.retry_after  # sets Retry-After without DRF's extra sentence
            raise throttled from None
        try:
            response = super().post(request, *args, **kwargs)
        except exceptions.AuthenticationFailed:
            raise  # a wrong password: the attempt stays counted
        except Exception:
            login_throttle.login_attempt_withdrawn(username=username, ip=ip)
            raise
        login_throttle.login_attempt_succeeded(username=username, ip=ip)
        return response


class LogoutInputSerializer(serializers.Serializer):
    refresh = serializers.CharField(max_length=2000)


class LogoutApi(APIView):
    """Blacklist a refresh token: that device is logged out for good."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(request=LogoutInputSerializer, responses={204: None})
    def post(self, request):
        data = LogoutInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.user_logout_device(refresh=data.validated_data["refresh"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeUpdateInputSerializer(serializers.Serializer):
    display_name = serializers.CharField(max_length=80, allow_blank=True, required=False)
    email = serializers.EmailField(max_length=254, required=False)
    avatar = serializers.ImageField(required=False)
    shop_name = serializers.CharField(max_length=80, required=False)
    bio = serializers.CharField(max_length=2000, allow_blank=True, required=False)


class MeApi(APIView):
    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(responses={200: UserSerializer})
    def get(self, request):
        return Response(UserSerializer(request.user, context={"request": request}).data)

    @extend_schema(request=MeUpdateInputSerializer, responses={200: UserSerializer})
    def patch(self, request):
        data = MeUpdateInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        user = services.user_update_profile(user=request.user, **data.validated_data)
        return Response(UserSerializer(user, context={"request": request}).data)


class BecomeSellerInputSerializer(serializers.Serializer):
    shop_name = serializers.CharField(max_length=80)
    bio = serializers.CharField(max_length=2000, allow_blank=True, required=False, default="")


class BecomeSellerApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=BecomeSellerInputSerializer, responses={200: UserSerializer})
    def post(self, request):
        data = BecomeSellerInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_become_seller(user=request.user, **data.validated_data)
        return Response(UserSerializer(user, context={"request": request}).data)
