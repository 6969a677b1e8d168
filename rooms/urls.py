from django.urls import path
from rest_framework.routers import SimpleRouter

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
]

api_router = SimpleRouter()
api_router.register("rooms", apis.RoomViewSet, basename="api-room")
api_urlpatterns = api_router.urls
