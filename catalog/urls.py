from django.urls import path
from rest_framework.routers import SimpleRouter

from catalog import apis, views

app_name = "catalog"

urlpatterns = [
    path("products/", views.product_list, name="product-list"),
    path("products/<pk:pk>/<slug:slug>/", views.product_detail, name="product-detail"),
    path("seller/products/", views.seller_products, name="seller-products"),
    path("seller/products/new/", views.seller_product_create, name="seller-product-create"),
    path("seller/products/<pk:pk>/edit/", views.seller_product_edit, name="seller-product-edit"),
    path(
        "seller/products/<pk:pk>/deactivate/",
        views.seller_product_deactivate,
        name="seller-product-deactivate",
    ),
]

api_router = SimpleRouter()
api_router.register("products", apis.ProductViewSet, basename="api-product")
api_router.register("categories", apis.CategoryViewSet, basename="api-category")
api_urlpatterns = api_router.urls
