"""Room pages: the home page, the rooms list, the room itself and the seller's room pages.

Writes go through rooms.services; the live parts of the room page (chat, spotlight, viewer
count, queue, video) arrive over the room socket and are handled by static/js/room.js; the
seller's studio (camera, go live) adds static/js/studio.js."""

import logging

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from accounts.decorators import seller_required
from catalog.selectors import featured_products
from liveshop.errors import ApplicationError
from liveshop.forms import add_service_error
from liveshop.pagecache import anonymous_page_cache
from rooms import selectors, services
from rooms.forms import RoomForm, moderators_text
from rooms.models import ShoppingRoom

logger = logging.getLogger(__name__)

Status = ShoppingRoom.Status
RECENTLY_ENDED = 12
HOME_UPCOMING = 4
SELLER_ROOMS_PER_PAGE = 25
SLOW_MODE_CHOICES = (5, 10, 30, 60)  # seconds; 0 (off) is the first option


def _listed(status: str) -> QuerySet[ShoppingRoom]:
    return selectors.rooms_for_listing().filter(status=status)


@anonymous_page_cache
@require_safe
def home(request):
    return render(
        request,
        "home.html",
        {
            "live_rooms": selectors.with_viewer_counts(_listed(Status.LIVE)),
            "upcoming_rooms": _listed(Status.SCHEDULED)[:HOME_UPCOMING],
            "featured": featured_products(),
        },
    )


@anonymous_page_cache
@require_safe
def room_list(request):
    return render(
        request,
        "rooms/room_list.html",
        {
            "live_rooms": selectors.with_viewer_counts(_listed(Status.LIVE)),
            "upcoming_rooms": _listed(Status.SCHEDULED),
            "ended_rooms": _listed(Status.ENDED).order_by("-ended_at")[:RECENTLY_ENDED],
        },
    )


def _js_strings() -> dict[str, str]:
    """What room.js says, translated here ({n} and {name} are filled in by the script)."""
    return {
        "connecting": _("Connecting…"),
        "reconnecting": _("Reconnecting…"),
        "not_connected": _("Not connected. Trying again…"),
        "chat_empty": _("No messages yet. Say hello!"),
        "status_scheduled": _("Scheduled"),
        "status_live": _("Live"),
        "status_ended": _("Ended"),
        # The video overlay, one per stream status (live-video.js); *_detail is a second line.
        "video_connecting": _("Connecting…"),
        "video_waiting": _("The show starts soon"),
        "video_waiting_detail": _("Live video starts when the seller goes live"),
        "video_live": _("The show is live"),
        "video_interrupted": _("Reconnecting…"),
        "video_interrupted_detail": _("The video will be back in a moment."),
        "video_ended": _("This show has ended"),
        "video_unavailable": _("Video is not available right now"),
        "video_unavailable_detail": _("Chat and shopping still work."),
        "video_play": _("Press Play to watch"),
        "video_unmute": _("Unmute"),
        "video_mute": _("Mute"),
        "ended": _("This show has ended. Chat and queue are closed."),
        "slow_mode": _("Slow mode: {n} s"),
        "queue_join": _("Join the queue"),
        "queue_leave": _("Leave the queue"),
        "queue_position": _("You are #{n} in the queue"),
        "queue_none": _("You are not in the queue."),
        "queue_admitted": _("It's your turn!"),
        "queue_empty": _("Nobody is waiting."),
        "presence_empty": _("Nobody has joined since you opened this page."),
        "muted": _("You are muted for {n} min."),
        "user_muted": _("{name} is muted for {n} min."),
        "user_banned": _("{name} is banned from this room."),
        "banned": _("You were banned from this room."),
        "delete": _("Delete"),
        "mute": _("Mute 5 min"),
        "ban": _("Ban"),
        "delete_label": _("Delete the message from {name}"),
        "mute_label": _("Mute {name} for 5 minutes"),
        "ban_label": _("Ban {name} from this room"),
        "confirm_ban": _("Ban {name} from this room?"),
        "seller": _("Seller"),
        "sold_out": _("Sold out"),
        # Plurals: the script picks _one or _other with Intl.PluralRules (the msgids are the
        # templates' own, so one translation serves both).
        "stock_left_one": ngettext("%(n)s left", "%(n)s left", 1) % {"n": "{n}"},
        "stock_left_other": ngettext("%(n)s left", "%(n)s left", 2) % {"n": "{n}"},
        "new_messages_one": ngettext("%(n)s new message ↓", "%(n)s new messages ↓", 1)
        % {"n": "{n}"},
        "new_messages_other": ngettext("%(n)s new message ↓", "%(n)s new messages ↓", 2)
        % {"n": "{n}"},
        "view_product": _("View product"),
    }


def _studio_js_strings() -> dict[str, str]:
    """What studio.js says on top of room.js."""
    return {
        **_js_strings(),
        "stream_waiting": _("Not live yet"),
        "stream_live": _("Live"),
        "stream_interrupted": _("Interrupted"),
        "stream_ended": _("Ended"),
        "publish_idle": _("Your camera is ready. Press “Go live” when you are."),
        "publish_connecting": _("Connecting to the server…"),
        "publish_connected": _("You are live: viewers see and hear you."),
        "publish_retrying": _("Connection lost. Reconnecting…"),
        "publish_stopped": _("Your video is not being sent."),
        "publish_ended": _("The show has ended. Thanks for the show!"),
        "camera_asking": _("Asking for your camera and microphone…"),
        "camera_denied": _(
            "The browser was not allowed to use your camera or microphone. "
            "Allow them in the address bar, then try again."
        ),
        "camera_missing": _("No camera was found. Connect one, then try again."),
        "camera_failed": _("The camera could not be started: {reason}"),
        "camera_ended": _("The {kind} stopped (unplugged?). Pick another one."),
        "camera_kind": _("camera"),
        "microphone_kind": _("microphone"),
        "camera_insecure": _("The camera can only be used on a secure (https) page."),
        "device_default": _("Device {n}"),
        "no_microphone": _("No microphone"),
        "video_not_available": _("Live video is not available on this server yet."),
        "error_permission": _("Only the room's seller can broadcast here."),
        "taken_over": _("This show is now broadcast from another window or device."),
        "error_retry": _("The server could not take the video ({code}). Trying again…"),
        "kbps": _("{n} kbps"),
        "ms": _("{n} ms"),
        "loss": _("{n} % ({lost} packets lost)"),
        "unknown": _("—"),
    }


@require_safe
def room_detail(request, pk: str):
    room = selectors.room_with_details(pk)
    if room is None or not (room.seller.is_active or room.seller_id == request.user.pk):
        raise Http404("No such room.")
    role = selectors.room_role(room, request.user)
    products = [product for product in room.products.all() if product.is_active]
    products.sort(key=lambda product: product.name)
    viewer_count = selectors.with_viewer_counts([room])[0].viewer_count if room.is_live else 0
    return render(
        request,
        "rooms/room_detail.html",
        {
            "room": room,
            "products": products,
            "role": role,
            "is_room_seller": role == "seller",
            # Live-only panels are left out once the show has ended.
            "can_moderate": role in {"seller", "moderator"} and not room.is_ended,
            "can_queue": role == "buyer" and not room.is_ended,
            "viewer_count": viewer_count,
            "slow_mode_choices": SLOW_MODE_CHOICES,
            "js_strings": _js_strings(),
            "ice_servers": settings.ICE_SERVERS,
        },
    )


# --- seller pages ------------------------------------------------------------------------


def _own_room(request, pk: str) -> ShoppingRoom:
    """The signed-in seller's room; anyone else's is simply not found."""
    return get_object_or_404(
        ShoppingRoom.objects.filter(seller=request.user).prefetch_related("products", "moderators"),
        pk=pk,
    )


@seller_required
@require_safe
def seller_rooms(request):
    rooms = ShoppingRoom.objects.filter(seller=request.user).order_by("-scheduled_start")
    page = Paginator(rooms, SELLER_ROOMS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "rooms/seller_rooms.html", {"page": page})


@seller_required
@require_http_methods(["GET", "POST"])
def seller_room_create(request):
    form = RoomForm(request.POST or None, request.FILES or None, seller=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            room = services.room_create(seller=request.user, **form.cleaned_data)
        except (ValidationError, ApplicationError) as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, _("“%(title)s” is scheduled.") % {"title": room.title})
            return redirect("rooms:seller-rooms")
    return render(request, "rooms/seller_room_form.html", {"form": form, "room": None})


@seller_required
@require_http_methods(["GET", "POST"])
def seller_room_edit(request, pk: str):
    room = _own_room(request, pk)
    if room.is_ended:
        messages.error(request, _("This show has ended; it can no longer be changed."))
        return redirect("rooms:seller-rooms")
    initial = {
        "title": room.title,
        "description": room.description,
        "scheduled_start": room.scheduled_start,
        "cover_image": room.cover_image,
        "products": list(room.products.all()),
        "moderators": moderators_text(room.moderators.all()),
    }
    form = RoomForm(
        request.POST or None, request.FILES or None, initial=initial, seller=room.seller
    )
    if request.method == "POST" and form.is_valid():
        changes = dict(form.cleaned_data)
        if changes.get("cover_image") == room.cover_image:
            del changes["cover_image"]  # no new file, nothing cleared
        try:
            services.room_update(room=room, actor=request.user, **changes)
        except (ValidationError, ApplicationError) as exc:
            room.refresh_from_db()
            add_service_error(form, exc)
        else:
            messages.success(request, _("“%(title)s” is saved.") % {"title": room.title})
            return redirect("rooms:seller-rooms")
    return render(request, "rooms/seller_room_form.html", {"form": form, "room": room})


@seller_required
@require_safe
def seller_room_studio(request, pk: str):
    """The seller's "go live" page: camera preview, go live over WebRTC (studio.js), chat,
    spotlight and stream health. The page only shows; going live happens over the socket."""
    room = _own_room(request, pk)
    if room.is_ended:
        return render(request, "rooms/seller_studio.html", {"room": room})
    products = sorted(
        (product for product in room.products.all() if product.is_active),
        key=lambda product: product.name,
    )
    viewer_count = selectors.with_viewer_counts([room])[0].viewer_count if room.is_live else 0
    return render(
        request,
        "rooms/seller_studio.html",
        {
            "room": room,
            "products": products,
            "role": "seller",
            "is_room_seller": True,
            "can_moderate": True,
            "viewer_count": viewer_count,
            "slow_mode_choices": SLOW_MODE_CHOICES,
            "js_strings": _studio_js_strings(),
            "ice_servers": settings.ICE_SERVERS,
        },
    )


@seller_required
@require_POST
def seller_room_go_live(request, pk: str):
    room = _own_room(request, pk)
    try:
        services.room_go_live(room=room, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("rooms:seller-rooms")
    messages.success(
        request, _("You are live! Viewers can join “%(title)s” now.") % {"title": room.title}
    )
    return redirect(room)


@seller_required
@require_POST
def seller_room_end(request, pk: str):
    room = _own_room(request, pk)
    try:
        services.room_end(room=room, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, _("“%(title)s” has ended. Thanks for the show!") % {"title": room.title}
        )
    return redirect("rooms:seller-rooms")
