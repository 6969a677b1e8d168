"""Notification pages: the list at /notifications/, "Mark read", and the "Remind me" buttons
of upcoming shows (plain POST forms: they work without JavaScript)."""

import re

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from liveshop.converters import PrimaryKeyConverter
from liveshop.errors import ApplicationError
from notifications import selectors, services
from rooms.models import ShoppingRoom

NOTIFICATIONS_PER_PAGE = 20


def _visible_room(pk: str) -> ShoppingRoom:
    return get_object_or_404(
        ShoppingRoom.objects.filter(seller__is_active=True).select_related("seller"), pk=pk
    )


def _back(request, fallback: str) -> str:
    """Where a button leads back to: the page it was on (`next`, this site only)."""
    url = request.POST.get("next") or ""
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return fallback


@require_POST
def room_remind(request, pk: str):
    """The "Remind me" button. Visitors are sent to log in, then back to the show."""
    if not request.user.is_authenticated:
        return redirect_to_login(reverse("rooms:room-detail", args=[pk]))
    room = _visible_room(pk)
    try:
        _reminder, created = services.room_reminder_set(user=request.user, room=room)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        if created:
            messages.success(
                request,
                _("We will tell you here when “%(title)s” goes live.") % {"title": room.title},
            )
    return redirect(_back(request, room.get_absolute_url()))


@require_POST
def room_remind_cancel(request, pk: str):
    if not request.user.is_authenticated:
        return redirect_to_login(reverse("rooms:room-detail", args=[pk]))
    room = _visible_room(pk)
    if services.room_reminder_unset(user=request.user, room=room):
        messages.success(request, _("Reminder for “%(title)s” cancelled.") % {"title": room.title})
    return redirect(_back(request, room.get_absolute_url()))


@login_required
@require_safe
def notification_list(request):
    page = Paginator(selectors.notifications_of(request.user), NOTIFICATIONS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "notifications/notification_list.html",
        {
            "page": page,
            "unread_count": selectors.unread_count(request.user),
            "items": [
                (notification, selectors.notification_summary(notification))
                for notification in page.object_list
            ],
        },
    )


@login_required
@require_POST
def notifications_read(request):
    """The "Mark all read" button (`all`), or one notification (`id`): only ever the user's own."""
    if request.POST.get("all"):
        services.notifications_mark_read(user=request.user, all=True)
    else:
        raw = request.POST.get("id", "")
        # Only well-formed ids reach the query: anything else simply marks nothing.
        ids = [raw] if re.fullmatch(PrimaryKeyConverter.regex, raw) else []
        services.notifications_mark_read(user=request.user, ids=ids)
    return redirect(_back(request, reverse("notifications:list")))
