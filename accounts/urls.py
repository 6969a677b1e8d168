from django.contrib.auth.views import LogoutView
from django.urls import path

from accounts import apis, views

app_name = "accounts"

urlpatterns = [
    path("register/", views.register, name="register"),
    path("login/", views.ThrottledLoginView.as_view(), name="login"),
    path("logout/", LogoutView.as_view(), name="logout"),
    path("profile/", views.profile, name="profile"),
    path("become-seller/", views.become_seller, name="become-seller"),
]

api_urlpatterns = [
    path("auth/register/", apis.RegisterApi.as_view(), name="api-register"),
    path("auth/token/", apis.TokenObtainApi.as_view(), name="api-token"),
    path("auth/token/refresh/", apis.TokenRefreshApi.as_view(), name="api-token-refresh"),
    path("auth/token/verify/", apis.TokenVerifyApi.as_view(), name="api-token-verify"),
    path("auth/logout/", apis.LogoutApi.as_view(), name="api-logout"),
    path("auth/me/", apis.MeApi.as_view(), name="api-me"),
    path("auth/become-seller/", apis.BecomeSellerApi.as_view(), name="api-become-seller"),
    path("sellers/<str:pk>/", apis.SellerProfileApi.as_view(), name="api-seller"),
    path("sellers/<str:pk>/follow/", apis.SellerFollowApi.as_view(), name="api-seller-follow"),
    path("feed/", apis.FeedApi.as_view(), name="api-feed"),
    path("me/following/", apis.FollowingApi.as_view(), name="api-me-following"),
]
