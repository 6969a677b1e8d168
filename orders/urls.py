from django.urls import path

from orders import apis, views, webhooks

app_name = "orders"

urlpatterns = [
    path("cart/", views.cart_page, name="cart"),
    path("cart/add/", views.cart_add, name="cart-add"),
    path("cart/items/<pk:pk>/", views.cart_item_update, name="cart-item"),
    path("checkout/", views.checkout, name="checkout"),
    path("checkout/success/", views.checkout_success, name="checkout-success"),
    path("checkout/cancel/", views.checkout_cancel, name="checkout-cancel"),
    path("orders/", views.order_list, name="order-list"),
    path("orders/<pk:pk>/", views.order_detail, name="order-detail"),
    path("orders/<pk:pk>/pay/", views.order_pay, name="order-pay"),
    path("orders/<pk:pk>/cancel/", views.order_cancel, name="order-cancel"),
    path("payments/dummy/<pk:pk>/", views.dummy_payment, name="dummy-payment"),
    path("payments/stripe/webhook/", webhooks.stripe_webhook, name="stripe-webhook"),
    path("seller/orders/", views.seller_orders, name="seller-orders"),
    path("seller/orders/<pk:pk>/", views.seller_order_detail, name="seller-order-detail"),
    path("seller/orders/<pk:pk>/ship/", views.seller_order_ship, name="seller-order-ship"),
]

api_urlpatterns = [
    path("cart/", apis.CartApi.as_view(), name="api-cart"),
    path("cart/items/", apis.CartItemsApi.as_view(), name="api-cart-items"),
    path("cart/items/<str:pk>/", apis.CartItemApi.as_view(), name="api-cart-item"),
    path("checkout/", apis.CheckoutApi.as_view(), name="api-checkout"),
    path("orders/", apis.OrderListApi.as_view(), name="api-orders"),
    path("orders/<str:pk>/", apis.OrderDetailApi.as_view(), name="api-order"),
    path("orders/<str:pk>/cancel/", apis.OrderCancelApi.as_view(), name="api-order-cancel"),
    path("orders/<str:pk>/pay/", apis.OrderPayApi.as_view(), name="api-order-pay"),
    path("seller/orders/", apis.SellerOrderListApi.as_view(), name="api-seller-orders"),
    path("seller/orders/<str:pk>/", apis.SellerOrderDetailApi.as_view(), name="api-seller-order"),
    path(
        "seller/orders/<str:pk>/ship/",
        apis.SellerOrderShipApi.as_view(),
        name="api-seller-order-ship",
    ),
]
