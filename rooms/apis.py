"""Rooms API: anyone reads shopping rooms; a seller creates, changes, opens and closes their
own; the seller, staff and the room's moderators put products in the spotlight.

Live state (spotlight, audience) comes from the room store that the room socket keeps, with
the database as the fallback, so the API and the socket tell the same story."""

import asyncio
import logging
from collections.abc import Iterable
from typing import NamedTuple

from asgiref.sync import async_to_sync
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection
from django.db.models import Prefetch, QuerySet
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_field
from redis.exceptions import RedisError
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response

from accounts.models import User
from accounts.permissions import IsSeller
from analytics.apis import IsSellerOrStaff, RoomStatsSerializer, room_stats_data
from catalog.apis import ProductSerializer, SellerSummarySerializer
from catalog.models import Product
from catalog.selectors import products_on_sale
from liveshop.api import BoundedListField, PageSizeParameter
from rooms import selectors, services
from rooms.filters import RoomFilter
from rooms.models import ChatMessage, ShoppingRoom
from rooms.store import get_store
from streaming import host as media

logger = logging.getLogger(__name__)

MAX_ROOM_PRODUCTS = 100
MAX_ROOM_MODERATORS = 20

# --- live state from the room store -------------------------------------------------------


class LiveState(NamedTuple):
    spotlight: dict | None
    viewer_count: int | None  # None: the room store could not be read (Redis away)
    stream_status: str | None


def live_state(rooms: Iterable[ShoppingRoom], *, spotlight_from_db: bool = False) -> dict:
    """Spotlight and audience of each room, read from the room store in one go (a page of
    the list costs one round trip to the event loop, not one per room).

    The store's spotlight wins; the database's is the fallback (a fresh Redis). Right after
    a write the database is the fresher one (the store is updated when the transaction
    commits), so write answers pass `spotlight_from_db=True`."""
    rooms = list(rooms)
    if not rooms:
        return {}
    store = get_store()

    async def read_one(room: ShoppingRoom) -> tuple[dict | None, int, str]:
        key = str(room.pk)
        spotlight = None if spotlight_from_db else await store.spotlight_get(key)
        viewers = await store.viewer_count(key) if room.is_live else 0
        return spotlight, viewers, await media.stream_status(key, room.status)

    async def read_all() -> list[tuple[dict | None, int, str]]:
        return await asyncio.gather(*(read_one(room) for room in rooms))

    try:
        states = async_to_sync(read_all)()
    except (RedisError, OSError):
        # The room list must outlive a Redis outage: the database knows the spotlight, and
        # the audience and stream are unknown (null) until the store answers again.
        logger.warning("could not read the rooms' live state", exc_info=True)
        states = [(None, None, None)] * len(rooms)
    return {
        room.pk: LiveState(spotlight or selectors.spotlight_from_db(room), viewers, stream)
        for room, (spotlight, viewers, stream) in zip(rooms, states, strict=True)
    }


# --- output -----------------------------------------------------------------------------


class ProductSummarySerializer(serializers.ModelSerializer):
    """The shape of rooms.selectors.product_summary (the spotlight, as on the socket)."""

    price = serializers.CharField()
    image_url = serializers.CharField(allow_null=True)

    class Meta:
        model = Product
        fields = ["id", "name", "price", "currency", "stock", "image_url"]
        read_only_fields = fields


class UserSummarySerializer(serializers.ModelSerializer):
    """rooms.selectors.user_summary: display_name falls back to the username."""

    display_name = serializers.CharField(source="public_name")

    class Meta:
        model = User
        fields = ["id", "username", "display_name"]
        read_only_fields = fields


class RoomListItemSerializer(serializers.ModelSerializer):
    seller = SellerSummarySerializer()
    cover_image_url = serializers.SerializerMethodField()
    spotlight = serializers.SerializerMethodField()
    viewer_count = serializers.SerializerMethodField()
    stream_status = serializers.SerializerMethodField(
        help_text="The live video: waiting, live, interrupted or ended (as the socket says)."
    )
    ws_url = serializers.SerializerMethodField()
    url = serializers.CharField(source="get_absolute_url")

    class Meta:
        model = ShoppingRoom
        fields = [
            "id",
            "title",
            "description",
            "status",
            "scheduled_start",
            "started_at",
            "ended_at",
            "cover_image_url",
            "seller",
            "spotlight",
            "viewer_count",
            "stream_status",
            "peak_viewers",
            "total_chat_messages",
            "ws_url",
            "url",
        ]
        read_only_fields = fields

    def get_cover_image_url(self, room: ShoppingRoom) -> str | None:
        if not room.cover_image:
            return None
        request = self.context.get("request")
        url = room.cover_image.url
        return request.build_absolute_uri(url) if request else url

    def _live(self, room: ShoppingRoom) -> LiveState:
        known = self.context.get("live", {})
        return known[room.pk] if room.pk in known else live_state([room])[room.pk]

    @extend_schema_field(ProductSummarySerializer(allow_null=True))
    def get_spotlight(self, room: ShoppingRoom) -> dict | None:
        return self._live(room).spotlight

    def get_viewer_count(self, room: ShoppingRoom) -> int | None:
        return self._live(room).viewer_count

    @extend_schema_field(
        serializers.ChoiceField(
            choices=["waiting", "live", "interrupted", "ended"], allow_null=True
        )
    )
    def get_stream_status(self, room: ShoppingRoom) -> str | None:
        return self._live(room).stream_status

    def get_ws_url(self, room: ShoppingRoom) -> str:
        return f"/ws/rooms/{room.pk}/"


class RoomSerializer(RoomListItemSerializer):
    products = ProductSerializer(many=True)
    moderators = UserSummarySerializer(many=True)

    class Meta(RoomListItemSerializer.Meta):
        fields = [
            "id",
            "title",
            "description",
            "status",
            "scheduled_start",
            "started_at",
            "ended_at",
            "cover_image_url",
            "seller",
            "products",
            "spotlight",
            "viewer_count",
            "stream_status",
            "peak_viewers",
            "total_chat_messages",
            "moderators",
            "ws_url",
            "url",
        ]
        read_only_fields = fields


class ChatMessageSerializer(serializers.ModelSerializer):
    """A chat line as the socket's `chat-message` has it."""

    id = serializers.CharField(source="message_id", help_text="The id the socket used (32 hex).")
    user = UserSummarySerializer()

    class Meta:
        model = ChatMessage
        fields = ["id", "user", "text", "sent_at"]
        read_only_fields = fields


class ChatHistoryPagination(PageSizeParameter, CursorPagination):
    """Scroll-back: newest first; `next` leads to older lines. A cursor, not page numbers,
    so lines arriving meanwhile never shift or repeat what the client already has."""

    ordering = ("-sent_at", "-pk")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 100


# --- input ------------------------------------------------------------------------------


class IdField(serializers.PrimaryKeyRelatedField):
    """An id of the queryset's model, checked for shape only (no query): an integer on SQL
    databases, an ObjectId on MongoDB. The schema gets the model's key type."""

    default_error_messages = {"invalid_id": "“{value}” is not a valid id."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, str | int):
            self._invalid(data)
        pk_field = self.get_queryset().model._meta.pk
        try:
            value = pk_field.to_python(data)
        except DjangoValidationError:
            self._invalid(data)
        if isinstance(value, int):
            # Out of the column's range the database driver raises (SQLite: OverflowError).
            low, high = connection.ops.integer_field_range(pk_field.get_internal_type())
            if not low <= value <= high:
                self._invalid(data)
        return value

    def _invalid(self, data) -> None:
        shown = str(data)
        # The answer never echoes a huge value back.
        self.fail("invalid_id", value=shown if len(shown) <= 30 else f"{shown[:30]}…")


class IdListField(BoundedListField):
    """A list of ids of objects in `queryset`, looked up with one query (DRF's
    PrimaryKeyRelatedField(many=True) makes one per id). An id outside the queryset (another
    seller's product) gets the same answer as an unknown one, so nothing leaks."""

    default_error_messages = {"does_not_exist": "No such id: {value}."}

    def __init__(self, *, queryset: QuerySet, **kwargs):
        super().__init__(child=IdField(queryset=queryset), **kwargs)

    def to_internal_value(self, data):
        ids = list(dict.fromkeys(super().to_internal_value(data)))
        found = self.child.get_queryset().in_bulk(ids)
        missing = [value for value in ids if value not in found]
        if missing:
            message = self.error_messages["does_not_exist"]
            raise serializers.ValidationError([message.format(value=value) for value in missing])
        return [found[value] for value in ids]


class RoomInputSerializer(serializers.Serializer):
    """What a seller sends to create (all required fields) or change (any of them) a room.
    The seller is always the caller; anything else in the body is ignored."""

    title = serializers.CharField(max_length=120)
    description = serializers.CharField(max_length=2000, allow_blank=True, required=False)
    scheduled_start = serializers.DateTimeField()
    products = IdListField(
        queryset=Product.objects.none(),
        max_length=MAX_ROOM_PRODUCTS,
        required=False,
        error_messages={"does_not_exist": "You have no product with id {value}."},
        help_text="Ids of your own products on sale.",
    )
    moderators = IdListField(
        queryset=User.objects.filter(is_active=True),
        max_length=MAX_ROOM_MODERATORS,
        required=False,
        error_messages={"does_not_exist": "There is no user with id {value}."},
        help_text="Ids of users who may spotlight products and moderate the chat.",
    )
    cover_image = serializers.ImageField(
        required=False, allow_null=True, help_text="null (or an empty form field) removes it."
    )

    def __init__(self, *args, seller: User | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        # Only the caller's own products can be found: another seller's id is "no such id".
        # (Off-sale ones are found, and refused by the service with their name.)
        self.fields["products"].child.queryset = (
            Product.objects.filter(seller=seller) if seller else Product.objects.none()
        )

    def service_arguments(self, *, creating: bool) -> dict:
        changes = dict(self.validated_data)
        if "cover_image" in changes and changes["cover_image"] is None:
            if creating:
                del changes["cover_image"]
            else:
                changes["cover_image"] = False  # room_update's "clear the image"
        return changes


class ModeratorsInputSerializer(serializers.Serializer):
    moderators = IdListField(
        queryset=User.objects.filter(is_active=True),
        max_length=MAX_ROOM_MODERATORS,
        error_messages={"does_not_exist": "There is no user with id {value}."},
        help_text="Ids of every moderator the room should have ([] removes them all).",
    )


class SpotlightInputSerializer(serializers.Serializer):
    product_id = IdField(
        queryset=Product.objects.all(),
        allow_null=True,
        help_text="One of the room's products, or null to clear the spotlight.",
    )


# --- the viewset ------------------------------------------------------------------------

SELLER_ACTIONS = frozenset({"partial_update", "go_live", "end", "moderators"})


class RoomViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Anyone reads rooms (live first, then upcoming, then ended). A seller creates rooms and
    changes, opens and ends only their own: another seller's room answers 404, like a
    missing one. The spotlight may be moved by the seller, staff and the room's moderators."""

    serializer_class = RoomSerializer
    filterset_class = RoomFilter
    # A room that cannot move that way, or has ended: illegal_transition / room_ended.
    documented_errors = {
        action: {409} for action in ("partial_update", "go_live", "end", "spotlight", "moderators")
    }
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def get_permissions(self):
        if self.action in {"list", "retrieve", "chat"}:
            return [AllowAny()]
        if self.action == "spotlight":
            return [IsAuthenticated()]  # moderators may be buyers
        if self.action == "stats":
            return [IsSellerOrStaff()]
        return [IsSeller()]

    def get_serializer_class(self):
        return RoomListItemSerializer if self.action == "list" else RoomSerializer

    def get_queryset(self):
        if self.action == "list":
            return selectors.rooms_for_listing()
        if self.action == "stats":
            user = self.request.user
            if getattr(self, "swagger_fake_view", False) or not user.is_authenticated:
                return ShoppingRoom.objects.none()
            rooms = ShoppingRoom.objects.select_related("seller")
            return rooms if user.is_staff else rooms.filter(seller=user)
        rooms = _rooms_with_details()
        if self.action in SELLER_ACTIONS:
            user = self.request.user
            if getattr(self, "swagger_fake_view", False) or not user.is_authenticated:
                return rooms.none()
            return rooms.filter(seller=user)
        return rooms

    def filter_queryset(self, queryset):
        # The filters are the list's; a detail or an action never answers 400 for them.
        return super().filter_queryset(queryset) if self.action == "list" else queryset

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "live": getattr(self, "_live", {})}

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        if self.action == "list":
            self._live = live_state(page if page is not None else queryset)
        return page

    @extend_schema(request=RoomInputSerializer, responses={201: RoomSerializer})
    def create(self, request):
        data = RoomInputSerializer(data=request.data, seller=request.user)
        data.is_valid(raise_exception=True)
        room = services.room_create(seller=request.user, **data.service_arguments(creating=True))
        return Response(self._render(room), status=status.HTTP_201_CREATED)

    @extend_schema(request=RoomInputSerializer, responses={200: RoomSerializer})
    def partial_update(self, request, pk=None):
        room = self.get_object()
        data = RoomInputSerializer(data=request.data, partial=True, seller=request.user)
        data.is_valid(raise_exception=True)
        room = services.room_update(
            room=room, actor=request.user, **data.service_arguments(creating=False)
        )
        return Response(self._render(room))

    @extend_schema(request=None, responses={200: RoomSerializer})
    @action(detail=True, methods=["post"], url_path="go-live")
    def go_live(self, request, pk=None):
        """Open the room to viewers (scheduled -> live)."""
        room = services.room_go_live(room=self.get_object(), actor=request.user)
        return Response(self._render(room))

    @extend_schema(request=None, responses={200: RoomSerializer})
    @action(detail=True, methods=["post"])
    def end(self, request, pk=None):
        """End the show (live -> ended); an ended room can no longer change."""
        room = services.room_end(room=self.get_object(), actor=request.user)
        return Response(self._render(room))

    @extend_schema(request=SpotlightInputSerializer, responses={200: RoomSerializer})
    @action(detail=True, methods=["post"])
    def spotlight(self, request, pk=None):
        """Put one of the room's products in the spotlight, or clear it with null."""
        room = self.get_object()
        user = request.user
        # Refused before the body is read. Another seller's room is "not yours", as for
        # every seller action (404); anyone else who is not a moderator gets 403.
        if not services.room_can_moderate(room, user):
            if user.is_seller:
                raise exceptions.NotFound()
            raise exceptions.PermissionDenied(
                _("Only the seller and moderators can spotlight products.")
            )
        data = SpotlightInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        room = services.room_spotlight(
            room=room, actor=user, product_id=data.validated_data["product_id"]
        )
        return Response(self._render(room))

    # The room list's filters do not apply to an action (filter_queryset): not documented.
    @extend_schema(responses={200: ChatMessageSerializer(many=True)}, filters=False)
    @action(detail=True, methods=["get"], pagination_class=ChatHistoryPagination)
    def chat(self, request, pk=None):
        """The room's chat, newest first, for scroll-back (deleted lines left out). Follow
        `next` for older lines; the socket's `room-state` has the latest 50."""
        room = self.get_object()
        page = self.paginate_queryset(selectors.chat_history(room))
        return self.get_paginated_response(ChatMessageSerializer(page, many=True).data)

    @extend_schema(
        methods=["GET"],
        request=None,
        responses={200: UserSummarySerializer(many=True)},
        filters=False,
    )
    @extend_schema(
        methods=["PUT"],
        request=ModeratorsInputSerializer,
        responses={200: UserSummarySerializer(many=True)},
        filters=False,
    )
    @action(detail=True, methods=["get", "put"], pagination_class=None)
    def moderators(self, request, pk=None):
        """Your room's moderators: they may spotlight products and moderate the chat. PUT
        replaces the whole list."""
        room = self.get_object()
        if request.method == "PUT":
            data = ModeratorsInputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            room = services.room_update(
                room=room, actor=request.user, moderators=data.validated_data["moderators"]
            )
        moderators = room.moderators.order_by("username")
        return Response(UserSummarySerializer(moderators, many=True).data)

    @extend_schema(request=None, responses={200: RoomStatsSerializer})
    @action(detail=True, methods=["get"], pagination_class=None)
    def stats(self, request, pk=None):
        """Your room's numbers (staff: any room's): viewers, chat, add-to-carts, paid orders,
        revenue, conversion, and units sold per product from the room."""
        return Response(room_stats_data(self.get_object()))

    def _render(self, room: ShoppingRoom) -> dict:
        """A room after a write, read back whole (products, moderators, live state)."""
        room = _rooms_with_details().get(pk=room.pk)
        self._live = live_state([room], spotlight_from_db=True)
        return RoomSerializer(room, context=self.get_serializer_context()).data


def _rooms_with_details() -> QuerySet[ShoppingRoom]:
    """Rooms of active sellers with all that the detail shows, in a fixed number of queries.
    The products are those on sale: an off-sale product can be neither bought nor
    spotlighted, so the room does not show it."""
    return (
        ShoppingRoom.objects.filter(seller__is_active=True)
        .select_related("seller", "spotlight_product")
        .prefetch_related(
            Prefetch("products", queryset=products_on_sale().order_by("name", "pk")),
            "moderators",
        )
    )
