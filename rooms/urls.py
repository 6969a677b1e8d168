from django.urls import path
from rest_framework.routers import SimpleRouter

from analytics import apis as analytics_apis
from analytics import views as analytics_views
from rooms import apis, views

app_name = "rooms"

urlpatterns = [
    path("rooms/", views.room_list, name="room-list"),
    path("rooms/<pk:pk>/", views.room_detail, name="room-detail"),
    path("seller/rooms/", views.seller_rooms, name="seller-rooms"),
    path("seller/rooms/new/", views.seller_room_create, name="seller-room-create"),
    path("seller/rooms/<pk:pk>/edit/", views.seller_room_edit, name="seller-room-edit"),
    path("seller/rooms/<pk:pk>/studio/", views.seller_room_studio, name="seller-room-studio"),
    path("seller/rooms/<pk:pk>/go-live/", views.seller_room_go_live, name="seller-room-go-live"),
    path("seller/rooms/<pk:pk>/end/", views.seller_room_end, name="seller-room-end"),
    path(
        "seller/rooms/<pk:pk>/stats/", analytics_views.seller_room_stats, name="seller-room-stats"
    ),
    path("seller/dashboard/", analytics_views.seller_dashboard, name="seller-dashboard"),
]

api_router = SimpleRouter()
api_router.register("rooms", apis.RoomViewSet, basename="api-room")
api_urlpatterns = [
    *api_router.urls,
    path("seller/stats/", analytics_apis.SellerStatsApi.as_view(), name="seller-stats"),
]
