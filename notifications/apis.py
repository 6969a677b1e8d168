"""Notifications API: "Remind me" for upcoming shows, and the signed-in user's notifications.

Every endpoint acts as the caller only: nobody can set a reminder for, read or mark read
someone else's notifications (another user's ids are ignored, as unknown ones are)."""

from django.conf import settings
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from liveshop.api import BoundedListField, StandardPagination, error_responses
from notifications import selectors, services
from notifications.models import Notification
from rooms.apis import IdField, UserSummarySerializer
from rooms.models import ShoppingRoom
from rooms.selectors import public_id

MAX_IDS = 100


def room_id_parameter() -> OpenApiParameter:
    kind = OpenApiTypes.STR if settings.USING_MONGODB else OpenApiTypes.INT
    return OpenApiParameter("id", kind, OpenApiParameter.PATH, description="The room's id.")


def room_or_404(value: str) -> ShoppingRoom:
    """A room anyone may see. An unknown id, one the database cannot hold ("abc", 10**30)
    and a deactivated seller's room all answer the same 404."""
    try:
        room_id = IdField(queryset=ShoppingRoom.objects.all()).to_internal_value(value)
    except serializers.ValidationError:
        room = None
    else:
        room = (
            ShoppingRoom.objects.filter(pk=room_id, seller__is_active=True)
            .select_related("seller")
            .first()
        )
    if room is None:
        raise exceptions.NotFound(_("No such room."))
    return room


# --- output -----------------------------------------------------------------------------


def id_field(help_text: str) -> serializers.Field:
    """An id as JSON carries it (rooms.selectors.public_id): a number on SQL databases, a
    string for MongoDB's ObjectIds. Output only."""
    if settings.USING_MONGODB:
        return serializers.CharField(read_only=True, help_text=help_text)
    return serializers.IntegerField(read_only=True, help_text=help_text)


class ReminderStateSerializer(serializers.Serializer):
    room_id = id_field("The room's id.")
    reminder_set = serializers.BooleanField()


class NotificationRoomSerializer(serializers.Serializer):
    id = id_field("The room's id.")
    title = serializers.CharField()
    status = serializers.ChoiceField(choices=ShoppingRoom.Status.choices)


class NotificationSerializer(serializers.Serializer):
    """A notification, exactly as the socket pushes it (notifications.selectors
    .notification_summary renders both)."""

    id = id_field("The notification's id.")
    kind = serializers.ChoiceField(choices=Notification.Kind.choices)
    reason = serializers.ChoiceField(
        choices=Notification.Reason.choices,
        help_text="Why you got it: you set a reminder, or you follow the seller.",
    )
    title = serializers.CharField(help_text="Headline, in the site's language.")
    text = serializers.CharField(help_text="One sentence, in the site's language.")
    url = serializers.CharField(allow_null=True, help_text="The page it is about (the room).")
    room = NotificationRoomSerializer(allow_null=True)
    seller = UserSummarySerializer(allow_null=True)
    created_at = serializers.DateTimeField()
    read_at = serializers.DateTimeField(allow_null=True)
    is_read = serializers.BooleanField()

    def to_representation(self, instance: Notification) -> dict:
        return selectors.notification_summary(instance)


class MarkReadResultSerializer(serializers.Serializer):
    marked = serializers.IntegerField(help_text="How many of your notifications became read.")
    unread_count = serializers.IntegerField(help_text="Your unread notifications now.")


# --- input ------------------------------------------------------------------------------


class MarkReadInputSerializer(serializers.Serializer):
    ids = BoundedListField(
        child=IdField(queryset=Notification.objects.all()),
        required=False,
        max_length=MAX_IDS,
        help_text=f"Ids of your notifications (at most {MAX_IDS}); others are ignored.",
    )
    all = serializers.BooleanField(required=False, help_text="true: mark every one read.")

    def validate(self, data: dict) -> dict:
        has_ids = "ids" in data
        if has_ids == bool(data.get("all")):
            raise serializers.ValidationError(
                _('Send either {"ids": [...]} or {"all": true}.'), code="invalid"
            )
        return data


class UnreadFilterSerializer(serializers.Serializer):
    unread = serializers.BooleanField(required=False, default=False)


# --- views ------------------------------------------------------------------------------


class RoomRemindApi(APIView):
    """The "Remind me" of an upcoming show: set it (POST) or cancel it (DELETE), both
    idempotent. When the show goes live you get a notification (GET /me/notifications/, and
    a push on /ws/notifications/)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[room_id_parameter()],
        request=None,
        responses={
            201: OpenApiResponse(ReminderStateSerializer, description="Reminder set."),
            200: OpenApiResponse(ReminderStateSerializer, description="It was already set."),
            **error_responses(400, 401, 404, 409),
        },
    )
    def post(self, request, pk: str):
        room = room_or_404(pk)
        _, created = services.room_reminder_set(user=request.user, room=room)
        return Response(
            {"room_id": public_id(room.pk), "reminder_set": True},
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(
        parameters=[room_id_parameter()],
        request=None,
        responses={204: None, **error_responses(401, 404)},
    )
    def delete(self, request, pk: str):
        room = room_or_404(pk)
        services.room_reminder_unset(user=request.user, room=room)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MyNotificationsApi(generics.ListAPIView):
    """Your notifications, newest first. `?unread=true` lists only the unread ones (its
    `count` is your unread count)."""

    permission_classes = [IsAuthenticated]
    pagination_class = StandardPagination
    serializer_class = NotificationSerializer
    filter_backends: list = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Notification.objects.none()
        query = UnreadFilterSerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return selectors.notifications_of(
            self.request.user, unread_only=query.validated_data["unread"]
        )

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "unread", OpenApiTypes.BOOL, description="true: only unread notifications."
            )
        ],
        responses={200: NotificationSerializer(many=True), **error_responses(400, 401)},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class MarkNotificationsReadApi(APIView):
    """Mark your notifications read: `{"ids": [...]}` or `{"all": true}`. Marking one that
    is already read, or one that is not yours, changes nothing."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=MarkReadInputSerializer,
        responses={200: MarkReadResultSerializer, **error_responses(400, 401)},
    )
    def post(self, request):
        data = MarkReadInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        marked = services.notifications_mark_read(
            user=request.user,
            ids=data.validated_data.get("ids"),
            all=bool(data.validated_data.get("all")),
        )
        result = {"marked": marked, "unread_count": selectors.unread_count(request.user)}
        return Response(MarkReadResultSerializer(result).data)
