from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

import liveshop.converters  # noqa: F401  (registers the "pk" converter)
from accounts import urls as accounts_urls
from accounts.views import following, seller_follow, seller_profile, seller_unfollow
from catalog import urls as catalog_urls
from liveshop.api import api_not_found
from liveshop.api_docs import RedocView
from liveshop.views import healthz, serve_media
from notifications import urls as notifications_urls
from orders import urls as orders_urls
from rooms import urls as rooms_urls
from rooms.views import home

api_v1 = [
    *accounts_urls.api_urlpatterns,
    *catalog_urls.api_urlpatterns,
    *rooms_urls.api_urlpatterns,
    *orders_urls.api_urlpatterns,
    *notifications_urls.api_urlpatterns,
]

urlpatterns = [
    path("", home, name="home"),
    path("accounts/", include("accounts.urls")),
    path("sellers/<str:username>/", seller_profile, name="seller-profile"),
    path("sellers/<str:username>/follow/", seller_follow, name="seller-follow"),
    path("sellers/<str:username>/unfollow/", seller_unfollow, name="seller-unfollow"),
    path("following/", following, name="following"),
    path("", include("catalog.urls")),
    path("", include("rooms.urls")),
    path("", include("orders.urls")),
    path("", include("notifications.urls")),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("api/v1/", include((api_v1, "api"), namespace="api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Browsable docs of that schema; their scripts come from our own static files.
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", RedocView.as_view(url_name="api-schema"), name="api-redoc"),
    # Last of the API: anything else under /api/ answers the API's JSON 404.
    re_path(r"^api/(?P<path>.*)$", api_not_found, name="api-not-found"),
    # Uploaded images are re-encoded on the way in (liveshop/images.py), so serving them
    # from daphne is safe; a CDN or proxy in front may take this over in production.
    re_path(rf"^{settings.MEDIA_URL.lstrip('/')}(?P<path>.*)$", serve_media),
]
