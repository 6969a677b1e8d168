"""Orders API: the cart (signed-in users and anonymous session visitors alike), checkout, the
buyer's orders, and the seller's side of the orders that hold their products.

Every write goes through orders.services; showing a cart never creates one. Prices, totals,
sellers, buyers and statuses always come from the server: a body only ever carries ids,
quantities and a tracking number, and anything else in it is ignored."""

import contextlib
import logging
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import exceptions, generics, serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsSeller
from catalog.models import Currency, Product
from liveshop.api import ErrorSerializer, VisitorCsrfCheck, error_responses
from orders import selectors, services
from orders.exceptions import DATABASE_AWAY, TemporarilyUnavailable
from orders.filters import OrderFilter
from orders.models import Cart, CartItem, Order, OrderEvent, OrderItem
from rooms.apis import IdField, UserSummarySerializer
from rooms.models import ShoppingRoom

logger = logging.getLogger(__name__)

# --- output: the cart ---------------------------------------------------------------------


class CartProductSerializer(serializers.ModelSerializer):
    image_url = serializers.SerializerMethodField()
    url = serializers.CharField(source="get_absolute_url", help_text="The product's web page.")

    class Meta:
        model = Product
        fields = ["id", "name", "price", "currency", "stock", "image_url", "url"]
        read_only_fields = fields

    def get_image_url(self, product: Product) -> str | None:
        if not product.image:
            return None
        request = self.context.get("request")
        return request.build_absolute_uri(product.image.url) if request else product.image.url


class CartItemSerializer(serializers.ModelSerializer):
    product = CartProductSerializer(read_only=True)
    line_total = serializers.DecimalField(max_digits=12, decimal_places=2, read_only=True)

    class Meta:
        model = CartItem
        fields = ["id", "product", "quantity", "line_total"]
        read_only_fields = fields


class CartSerializer(serializers.Serializer):
    items = CartItemSerializer(many=True)
    count = serializers.IntegerField(help_text="The number of units: the sum of the quantities.")
    total = serializers.DecimalField(max_digits=14, decimal_places=2)
    currency = serializers.ChoiceField(
        choices=Currency.choices,
        allow_null=True,
        help_text="null when the cart is empty or mixes currencies (checkout refuses that).",
    )


class CartItemChangeSerializer(serializers.Serializer):
    item = CartItemSerializer()
    cart = CartSerializer()


class CartOnlySerializer(serializers.Serializer):
    cart = CartSerializer()


def cart_summary(cart: Cart | None) -> dict:
    """What CartSerializer renders; an absent cart is an empty one."""
    items = selectors.cart_items(cart)
    currencies = {item.product.currency for item in items}
    return {
        "items": items,
        "count": sum(item.quantity for item in items),
        "total": sum((item.line_total for item in items), Decimal("0.00")),
        "currency": currencies.pop() if len(currencies) == 1 else None,
    }


# --- output: orders -------------------------------------------------------------------------


class OrderItemSerializer(serializers.ModelSerializer):
    product_id = serializers.ReadOnlyField()
    line_total = serializers.DecimalField(max_digits=12, decimal_places=2, read_only=True)

    class Meta:
        model = OrderItem
        fields = ["product_id", "name", "unit_price", "currency", "quantity", "line_total"]
        read_only_fields = fields


class OrderEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderEvent
        fields = ["from_status", "to_status", "note", "created_at"]
        read_only_fields = fields


class OrderSerializer(serializers.ModelSerializer):
    """A buyer's order. Staff review flags (needs_review, review_reason) are never shown."""

    checkout_url = serializers.SerializerMethodField()
    items = OrderItemSerializer(many=True, read_only=True)
    events = OrderEventSerializer(many=True, read_only=True, source="status_events")

    class Meta:
        model = Order
        fields = [
            "id",
            "status",
            "total",
            "currency",
            "created_at",
            "updated_at",
            "checkout_url",
            "tracking_number",
            "items",
            "events",
        ]
        read_only_fields = fields

    def get_checkout_url(self, order: Order) -> str | None:
        """Where to pay: only while the order waits for payment and has a payment page."""
        if order.status != Order.Status.PENDING or not order.checkout_url:
            return None
        request = self.context.get("request")
        # The dummy backend's page is a local path; an app needs the whole URL.
        return request.build_absolute_uri(order.checkout_url) if request else order.checkout_url


class SellerOrderSerializer(serializers.ModelSerializer):
    """An order as one of its sellers sees it: only that seller's lines, and their total."""

    total = serializers.SerializerMethodField()
    buyer = UserSummarySerializer(read_only=True)
    items = OrderItemSerializer(many=True, read_only=True, source="seller_items")
    events = OrderEventSerializer(many=True, read_only=True, source="status_events")

    class Meta:
        model = Order
        fields = [
            "id",
            "status",
            "total",
            "currency",
            "created_at",
            "updated_at",
            "tracking_number",
            "buyer",
            "items",
            "events",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.DecimalField(max_digits=12, decimal_places=2))
    def get_total(self, order: Order) -> str:
        total = sum((item.line_total for item in order.seller_items), Decimal("0.00"))
        return f"{total:.2f}"


class CheckoutResultSerializer(serializers.ModelSerializer):
    order_id = serializers.ReadOnlyField(source="id")
    checkout_url = serializers.SerializerMethodField()

    class Meta:
        model = Order
        fields = ["order_id", "checkout_url"]
        read_only_fields = fields

    def get_checkout_url(self, order: Order) -> str:
        return self.context["request"].build_absolute_uri(order.checkout_url)


# --- input ----------------------------------------------------------------------------------


class CartItemAddInputSerializer(serializers.Serializer):
    product_id = IdField(queryset=Product.objects.all(), help_text="A product on sale.")
    quantity = serializers.IntegerField(
        min_value=1,
        max_value=services.MAX_QUANTITY_PER_LINE,
        default=1,
        help_text="Added to what the cart already holds of this product.",
    )
    room = IdField(
        queryset=ShoppingRoom.objects.all(),
        required=False,
        allow_null=True,
        help_text="The shopping room the add is made from, for the seller's numbers. Counted "
        "only while the room is live and lists the product; otherwise ignored (the add still "
        "happens).",
    )

    def validate_product_id(self, value) -> Product:
        # A product taken off sale is found here and refused by the service with its name
        # ("“Denim jacket” is no longer on sale."): the room page shows that message as it
        # is when the product in the spotlight goes off sale during the show.
        product = Product.objects.select_related("seller").filter(pk=value).first()
        if product is None:
            raise serializers.ValidationError(
                _("There is no product with id “%(id)s”.") % {"id": value}
            )
        return product


class CartItemUpdateInputSerializer(serializers.Serializer):
    quantity = serializers.IntegerField(min_value=1, max_value=services.MAX_QUANTITY_PER_LINE)


class ShipInputSerializer(serializers.Serializer):
    tracking_number = serializers.CharField(
        max_length=100, allow_blank=True, required=False, default=""
    )


# --- helpers --------------------------------------------------------------------------------


def id_parameter(what: str) -> OpenApiParameter:
    """The `{id}` of a URL, typed like the model's key (the URL itself takes any string so
    that a malformed id answers the API's 404 rather than the site's)."""
    kind = OpenApiTypes.STR if settings.USING_MONGODB else OpenApiTypes.INT
    return OpenApiParameter("id", kind, OpenApiParameter.PATH, description=f"The {what}'s id.")


def pk_or_404(model, value: str):
    """The primary key in a URL, or 404 for one the database cannot hold ("abc", 10**30)."""
    try:
        return IdField(queryset=model.objects.all()).to_internal_value(value)
    except serializers.ValidationError:
        raise exceptions.NotFound() from None


def cart_for_writing(request) -> Cart:
    if request.user.is_authenticated:
        return services.cart_for_user(user=request.user)
    return services.cart_for_session(session=request.session)


def with_history(orders: QuerySet[Order]) -> QuerySet[Order]:
    """Orders with their status changes, newest first. Staff-only events (review flags) have
    no status change and are left out."""
    return orders.prefetch_related(
        Prefetch("events", queryset=selectors.order_status_events(), to_attr="status_events")
    ).order_by("-created_at", "-pk")


def render_cart(request, cart: Cart | None, item: CartItem | None = None) -> dict:
    summary = cart_summary(cart)
    context = {"request": request}
    if item is None:
        return CartOnlySerializer({"cart": summary}, context=context).data
    # The item as the cart now holds it (fresh, with its product).
    item = next(line for line in summary["items"] if line.pk == item.pk)
    return CartItemChangeSerializer({"item": item, "cart": summary}, context=context).data


# --- the cart -------------------------------------------------------------------------------


class CartApi(APIView):
    """The caller's cart: a signed-in user's own, or an anonymous visitor's session cart."""

    permission_classes = [AllowAny, VisitorCsrfCheck]

    @extend_schema(responses={200: CartSerializer})
    def get(self, request):
        cart = selectors.cart_of_request(request)  # never creates one
        return Response(CartSerializer(cart_summary(cart), context={"request": request}).data)


class CartItemsApi(APIView):
    permission_classes = [AllowAny, VisitorCsrfCheck]

    @extend_schema(request=CartItemAddInputSerializer, responses={201: CartItemChangeSerializer})
    def post(self, request):
        """Add a product to the cart (to the line already there, if any)."""
        data = CartItemAddInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        # A refused add leaves no empty cart behind.
        with transaction.atomic():
            cart = cart_for_writing(request)
            item = services.cart_add(
                cart=cart,
                product=data.validated_data["product_id"],
                quantity=data.validated_data["quantity"],
                room_id=data.validated_data.get("room"),
            )
        return Response(render_cart(request, cart, item), status=status.HTTP_201_CREATED)


class CartItemApi(APIView):
    """One line of the caller's cart; a line of any other cart answers 404."""

    permission_classes = [AllowAny, VisitorCsrfCheck]

    def _find(self, request, pk: str) -> tuple[Cart, CartItem]:
        item_pk = pk_or_404(CartItem, pk)
        cart = selectors.cart_of_request(request)
        item = None
        if cart is not None:
            lines = cart.items.select_related("product", "product__seller")
            item = lines.filter(pk=item_pk).first()
        if item is None:
            raise exceptions.NotFound(_("No such item in your cart."))
        return cart, item

    @extend_schema(
        parameters=[id_parameter("cart item")],
        request=CartItemUpdateInputSerializer,
        responses={200: CartItemChangeSerializer},
    )
    def patch(self, request, pk: str):
        """Set the line's quantity."""
        cart, item = self._find(request, pk)
        data = CartItemUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = services.cart_set_quantity(
            cart=cart, item=item, quantity=data.validated_data["quantity"]
        )
        return Response(render_cart(request, cart, item))

    @extend_schema(
        parameters=[id_parameter("cart item")], request=None, responses={200: CartOnlySerializer}
    )
    def delete(self, request, pk: str):
        """Remove the line; answers the cart as it is now."""
        cart, item = self._find(request, pk)
        services.cart_remove(cart=cart, item=item)
        return Response(render_cart(request, cart))


# --- checkout -------------------------------------------------------------------------------


class CheckoutApi(APIView):
    """Turn the cart into a pending order (its stock reserved) and answer where to pay."""

    permission_classes = [IsAuthenticated]

    def dispatch(self, request, *args, **kwargs):
        with contextlib.ExitStack() as self.slot:  # released once the answer is made
            return super().dispatch(request, *args, **kwargs)

    def initial(self, request, *args, **kwargs):
        # The whole request waits for a checkout slot, authentication included: the user's
        # query, like the cart's, then runs at the buyer's turn (orders.services.checkout_slot).
        # Taken here rather than in dispatch so that a refusal gets the API's error shape.
        self.slot.enter_context(services.checkout_slot())
        super().initial(request, *args, **kwargs)

    def handle_exception(self, exc):
        if isinstance(exc, DATABASE_AWAY):
            logger.warning("checkout refused, database unavailable: %s", exc)
            exc = TemporarilyUnavailable(
                _(
                    "The shop cannot take orders for a moment; nothing was ordered or "
                    "reserved. Try again in a few seconds."
                )
            )
        response = super().handle_exception(exc)
        if isinstance(exc, TemporarilyUnavailable):
            response["Retry-After"] = str(exc.retry_after)
        return response

    @extend_schema(
        request=None,
        responses={
            201: CheckoutResultSerializer,
            **error_responses(400, 409),
            502: OpenApiResponse(
                ErrorSerializer,
                description="`payment_unavailable`: the payment provider could not be reached "
                "(or refused, or was too slow); nothing was charged, the order was cancelled at "
                "once, its stock released and its items put back in the cart: check out again "
                "in a moment.",
            ),
            503: OpenApiResponse(
                ErrorSerializer,
                description="`temporarily_unavailable`: too busy, or the database is away; "
                "nothing was ordered or reserved. Try again after `Retry-After` seconds.",
            ),
        },
    )
    def post(self, request):
        order = services.checkout_create_order(user=request.user)
        try:
            # If the payment provider cannot be reached this raises (502 payment_unavailable)
            # and the order is released: cancelled, stock back, items back in the cart.
            order.checkout_url = services.checkout_open_payment(
                order=order,
                success_url=self._back_url(request, "orders:checkout-success", order),
                cancel_url=self._back_url(request, "orders:checkout-cancel", order),
            )
        except DATABASE_AWAY as exc:
            # The order is made: say so, rather than "nothing was ordered".
            logger.warning("checkout: order %s made, payment page not saved: %s", order.pk, exc)
            raise TemporarilyUnavailable(
                _(
                    "Your order is made and its stock reserved, but its payment page could "
                    "not be opened: pay it from your orders in a few seconds."
                )
            ) from exc
        return Response(
            CheckoutResultSerializer(order, context={"request": request}).data,
            status=status.HTTP_201_CREATED,
        )

    @staticmethod
    def _back_url(request, name: str, order: Order) -> str:
        return request.build_absolute_uri(reverse(name)) + f"?order={order.pk}"


# --- the buyer's orders ---------------------------------------------------------------------


class OrderLookupMixin:
    """get_object for `<str:pk>` URLs: an id the database cannot hold is a plain 404."""

    def get_object(self) -> Order:
        pk = pk_or_404(Order, self.kwargs["pk"])
        order = self.get_queryset().filter(pk=pk).first()
        if order is None:
            raise exceptions.NotFound(_("No such order."))
        return order


class BuyerOrdersMixin(OrderLookupMixin):
    permission_classes = [IsAuthenticated]
    serializer_class = OrderSerializer

    def get_queryset(self) -> QuerySet[Order]:
        if getattr(self, "swagger_fake_view", False):
            return Order.objects.none()
        return with_history(selectors.orders_of_buyer(buyer=self.request.user))


class OrderListApi(BuyerOrdersMixin, generics.ListAPIView):
    """The caller's own orders, newest first."""

    filterset_class = OrderFilter

    @extend_schema(responses={200: OrderSerializer(many=True)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class OrderDetailApi(BuyerOrdersMixin, generics.RetrieveAPIView):
    @extend_schema(parameters=[id_parameter("order")], responses={200: OrderSerializer})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class OrderCancelApi(BuyerOrdersMixin, generics.GenericAPIView):
    @extend_schema(
        parameters=[id_parameter("order")],
        request=None,
        responses={200: OrderSerializer, **error_responses(409)},
    )
    def post(self, request, pk: str):
        """Cancel an order that waits for payment; its stock goes back on sale."""
        order = services.order_cancel_by_buyer(order=self.get_object(), buyer=request.user)
        return Response(self.get_serializer(self.get_queryset().get(pk=order.pk)).data)


class OrderPayApi(BuyerOrdersMixin, generics.GenericAPIView):
    @extend_schema(
        parameters=[id_parameter("order")],
        request=None,
        responses={200: CheckoutResultSerializer, **error_responses(409, 502)},
    )
    def post(self, request, pk: str):
        """Where to pay for a pending order: the same payment page every time (the Stripe
        session is made once per order), or a fresh try after `payment_unavailable`."""
        order = self.get_object()
        order.checkout_url = services.checkout_payment_url(
            order=order,
            success_url=CheckoutApi._back_url(request, "orders:checkout-success", order),
            cancel_url=CheckoutApi._back_url(request, "orders:checkout-cancel", order),
        )
        return Response(CheckoutResultSerializer(order, context={"request": request}).data)


# --- the seller's orders --------------------------------------------------------------------


class SellerOrdersMixin(OrderLookupMixin):
    """Orders holding at least one of the caller's products; an order without any answers
    404, like a missing one."""

    permission_classes = [IsSeller]
    serializer_class = SellerOrderSerializer

    def get_queryset(self) -> QuerySet[Order]:
        if getattr(self, "swagger_fake_view", False):
            return Order.objects.none()
        return with_history(selectors.orders_of_seller(seller=self.request.user))


class SellerOrderListApi(SellerOrdersMixin, generics.ListAPIView):
    filterset_class = OrderFilter

    @extend_schema(responses={200: SellerOrderSerializer(many=True)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class SellerOrderDetailApi(SellerOrdersMixin, generics.RetrieveAPIView):
    @extend_schema(parameters=[id_parameter("order")], responses={200: SellerOrderSerializer})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class SellerOrderShipApi(SellerOrdersMixin, generics.GenericAPIView):
    @extend_schema(
        parameters=[id_parameter("order")],
        request=ShipInputSerializer,
        responses={200: SellerOrderSerializer, **error_responses(409)},
    )
    def post(self, request, pk: str):
        """Mark a paid order shipped, with an optional tracking number."""
        order = self.get_object()
        data = ShipInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        order = services.order_ship(
            order=order, seller=request.user, tracking_number=data.validated_data["tracking_number"]
        )
        return Response(self.get_serializer(self.get_queryset().get(pk=order.pk)).data)
