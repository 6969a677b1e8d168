"""Accounts API: registration, JWT tokens, logout, the signed-in user, becoming a seller;
seller profiles, following sellers and the feed of their shows."""

from collections.abc import Mapping

from django.conf import settings
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.utils import html
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.serializers import PasswordField, TokenObtainPairSerializer
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import UntypedToken
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView, TokenVerifyView

from accounts import login_throttle, selectors, services
from accounts.models import Follow, RevokedToken, User
from accounts.tokens import (
    PASSWORD_CHANGED,
    PASSWORD_VERSION_CLAIM,
    SIGN_IN_CLAIM,
    RevocableRefreshToken,
    sign_in_marker,
    token_password_current,
)
from catalog.selectors import products_on_sale
from liveshop.api import StandardPagination, error_responses
from rooms.apis import IdField, RoomListItemSerializer, live_state
from rooms.models import ShoppingRoom


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


class TokenRefreshApi(TokenRefreshView):
    documented_errors = {401}  # an invalid, expired, rotated-away or revoked refresh token


class TokenVerifyApi(TokenVerifyView):
    documented_errors = {401}  # the token is not valid


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
        # Its own jti (a revoked refresh token), or its sign-in logged out (any token of it).
        revoked = [token.get(api_settings.JTI_CLAIM)]
        if token.get(SIGN_IN_CLAIM):
            revoked.append(sign_in_marker(str(token[SIGN_IN_CLAIM])))
        if RevokedToken.objects.filter(jti__in=revoked).exists():
            raise TokenError(_("Token is blacklisted"))
        # Issued before the password changed? Only tokens carrying the claim read the account.
        if token.get(PASSWORD_VERSION_CLAIM) is not None:
            user_id = token.get(api_settings.USER_ID_CLAIM)
            user = User.objects.filter(pk=user_id).first() if user_id is not None else None
            if not token_password_current(token, user):
                raise TokenError(str(PASSWORD_CHANGED))
        return {}


class TokenObtainApi(TokenObtainPairView):
    """Username + password -> access and refresh tokens, with failed attempts throttled
    per account and per address (shared with the site's login form)."""

    documented_errors = {401}  # a wrong username or password (no_active_account)

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
    documented_errors = {401}  # the refresh token is not valid
    authentication_classes: list = []

    @extend_schema(request=LogoutInputSerializer, responses={204: None})
    def post(self, request):
        data = LogoutInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.user_logout_device(refresh=data.validated_data["refresh"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class _BlankInFormRefused:
    """An optional field that may not be blank refuses an empty form field too, as it does in
    JSON: DRF would skip it (a form's unset field) and answer 200 with nothing changed."""

    def get_value(self, dictionary):
        if html.is_html_input(dictionary) and dictionary.get(self.field_name) == "":
            return ""
        return super().get_value(dictionary)


class _NonBlankCharField(_BlankInFormRefused, serializers.CharField):
    pass


class _NonBlankEmailField(_BlankInFormRefused, serializers.EmailField):
    pass


class MeUpdateInputSerializer(serializers.Serializer):
    display_name = serializers.CharField(max_length=80, allow_blank=True, required=False)
    email = _NonBlankEmailField(max_length=254, required=False)
    avatar = serializers.ImageField(required=False)
    shop_name = _NonBlankCharField(max_length=80, required=False)
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
    documented_errors = {409}  # already a seller

    @extend_schema(request=BecomeSellerInputSerializer, responses={200: UserSerializer})
    def post(self, request):
        data = BecomeSellerInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_become_seller(user=request.user, **data.validated_data)
        return Response(UserSerializer(user, context={"request": request}).data)


# --- sellers, following and the feed ----------------------------------------------------

# The profile shows this many upcoming shows (soonest first); the rooms list has them all.
PROFILE_UPCOMING_ROOMS = 20


def seller_id_parameter() -> OpenApiParameter:
    """The `{id}` of a seller URL, typed like the user key (the URL takes any string, so a
    malformed id answers the API's 404 rather than the site's)."""
    kind = OpenApiTypes.STR if settings.USING_MONGODB else OpenApiTypes.INT
    return OpenApiParameter("id", kind, OpenApiParameter.PATH, description="The seller's id.")


def seller_or_404(value: str) -> User:
    """The active seller with that id. A buyer, a deactivated account, an unknown id and an
    id the database cannot hold ("abc", 10**30) all answer the same 404."""
    try:
        seller_id = IdField(queryset=User.objects.all()).to_internal_value(value)
    except serializers.ValidationError:
        seller = None
    else:
        seller = selectors.seller_get(seller_id)
    if seller is None:
        raise exceptions.NotFound(_("No such seller."))
    return seller


def avatar_url(user: User, request) -> str | None:
    if not user.avatar:
        return None
    return request.build_absolute_uri(user.avatar.url) if request else user.avatar.url


class SellerProfileSerializer(serializers.ModelSerializer):
    display_name = serializers.CharField(
        source="public_name", help_text="The seller's name; their username when they set none."
    )
    avatar_url = serializers.SerializerMethodField()
    follower_count = serializers.IntegerField()
    is_following = serializers.BooleanField(help_text="Whether you follow them (false signed out).")
    live_rooms = RoomListItemSerializer(many=True)
    upcoming_rooms = RoomListItemSerializer(
        many=True, help_text=f"The {PROFILE_UPCOMING_ROOMS} soonest; GET /rooms/ has them all."
    )
    product_count = serializers.IntegerField(help_text="Products on sale.")

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "display_name",
            "shop_name",
            "bio",
            "avatar_url",
            "follower_count",
            "is_following",
            "live_rooms",
            "upcoming_rooms",
            "product_count",
        ]
        read_only_fields = fields

    def get_avatar_url(self, seller: User) -> str | None:
        return avatar_url(seller, self.context.get("request"))


class FollowStateSerializer(serializers.ModelSerializer):
    """Where a follow stands after POST: enough to redraw the button and the count."""

    seller_id = serializers.ReadOnlyField(source="id")
    is_following = serializers.BooleanField()
    follower_count = serializers.IntegerField()

    class Meta:
        model = User
        fields = ["seller_id", "is_following", "follower_count"]
        read_only_fields = fields


class FollowedSellerSerializer(serializers.ModelSerializer):
    """A followed seller, as GET /me/following/ lists them (one Follow row each)."""

    id = serializers.ReadOnlyField(source="seller.id", help_text="The seller's id.")
    username = serializers.CharField(source="seller.username")
    display_name = serializers.CharField(source="seller.public_name")
    shop_name = serializers.CharField(source="seller.shop_name")
    avatar_url = serializers.SerializerMethodField()
    followed_at = serializers.DateTimeField(source="created_at")

    class Meta:
        model = Follow
        fields = ["id", "username", "display_name", "shop_name", "avatar_url", "followed_at"]
        read_only_fields = fields

    def get_avatar_url(self, follow: Follow) -> str | None:
        return avatar_url(follow.seller, self.context.get("request"))


class SellerProfileApi(APIView):
    """A seller's public profile with their live and upcoming shows. Anyone may read it."""

    permission_classes = [AllowAny]

    @extend_schema(
        parameters=[seller_id_parameter()],
        responses={200: SellerProfileSerializer, **error_responses(404)},
    )
    def get(self, request, pk: str):
        seller = seller_or_404(pk)
        live = list(selectors.seller_rooms(seller=seller, status=ShoppingRoom.Status.LIVE))
        upcoming = list(
            selectors.seller_rooms(seller=seller, status=ShoppingRoom.Status.SCHEDULED)[
                :PROFILE_UPCOMING_ROOMS
            ]
        )
        seller.follower_count = selectors.follower_count(seller)
        seller.is_following = selectors.is_following(follower=request.user, seller=seller)
        seller.live_rooms = live
        seller.upcoming_rooms = upcoming
        seller.product_count = products_on_sale().filter(seller=seller).count()
        context = {"request": request, "live": live_state([*live, *upcoming])}
        return Response(SellerProfileSerializer(seller, context=context).data)


class SellerFollowApi(APIView):
    """Follow (POST) or unfollow (DELETE) a seller, as the caller: nobody can make someone
    else follow. Both are idempotent."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[seller_id_parameter()],
        request=None,
        responses={
            201: OpenApiResponse(FollowStateSerializer, description="You follow them now."),
            200: OpenApiResponse(FollowStateSerializer, description="You already followed them."),
            **error_responses(400, 401, 404),
        },
    )
    def post(self, request, pk: str):
        seller = seller_or_404(pk)
        _, created = services.seller_follow(follower=request.user, seller=seller)
        seller.is_following = True
        seller.follower_count = selectors.follower_count(seller)
        return Response(
            FollowStateSerializer(seller).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(
        parameters=[seller_id_parameter()],
        request=None,
        responses={204: None, **error_responses(401, 404)},
    )
    def delete(self, request, pk: str):
        seller = seller_or_404(pk)
        services.seller_unfollow(follower=request.user, seller=seller)
        return Response(status=status.HTTP_204_NO_CONTENT)


class FeedApi(generics.ListAPIView):
    """Live and upcoming shows of the sellers you follow: live first, then by start time.
    Each item is shaped as in GET /rooms/."""

    permission_classes = [IsAuthenticated]
    pagination_class = StandardPagination
    serializer_class = RoomListItemSerializer
    filter_backends: list = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ShoppingRoom.objects.none()
        return selectors.feed_rooms(self.request.user)

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        self._live = live_state(page if page is not None else queryset)
        return page

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "live": getattr(self, "_live", {})}

    @extend_schema(responses={200: RoomListItemSerializer(many=True), **error_responses(401)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class FollowingApi(generics.ListAPIView):
    """The sellers you follow, latest followed first."""

    permission_classes = [IsAuthenticated]
    pagination_class = StandardPagination
    serializer_class = FollowedSellerSerializer
    filter_backends: list = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Follow.objects.none()
        return selectors.follows_of(self.request.user)

    @extend_schema(responses={200: FollowedSellerSerializer(many=True), **error_responses(401)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
