from django.urls import path

from notifications import apis, views

app_name = "notifications"

urlpatterns = [
    path("notifications/", views.notification_list, name="list"),
    path("notifications/read/", views.notifications_read, name="read"),
    path("rooms/<pk:pk>/remind/", views.room_remind, name="room-remind"),
    path("rooms/<pk:pk>/remind/cancel/", views.room_remind_cancel, name="room-remind-cancel"),
]

# Under /api/v1/. The rooms router has no `remind` action, so the room path does not clash.
api_urlpatterns = [
    path("rooms/<str:pk>/remind/", apis.RoomRemindApi.as_view(), name="api-room-remind"),
    path("me/notifications/", apis.MyNotificationsApi.as_view(), name="api-me-notifications"),
    path(
        "me/notifications/read/",
        apis.MarkNotificationsReadApi.as_view(),
        name="api-me-notifications-read",
    ),
]
