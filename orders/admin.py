"""Staff look at orders, payments and carts here, read-only: every write goes through
orders.services (one state machine, an event per change), and a form saving a whole Order
row could write back a status that a webhook changed a moment before."""

from django.contrib import admin

from orders import services
from orders.models import Cart, CartItem, Order, OrderEvent, OrderItem, PaymentEvent


class ViewOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class OrderItemInline(ReadOnlyInline):
    model = OrderItem
    fields = ["name", "product", "seller", "unit_price", "currency", "quantity"]
    readonly_fields = fields


class OrderEventInline(ReadOnlyInline):
    model = OrderEvent
    fields = ["created_at", "from_status", "to_status", "actor", "note"]
    readonly_fields = fields


@admin.register(Order)
class OrderAdmin(ViewOnlyAdmin):
    list_display = ["id", "buyer", "status", "total", "currency", "needs_review", "created_at"]
    list_filter = ["status", "needs_review", "created_at", "payment_backend"]
    search_fields = ["=id", "buyer__username", "checkout_session_id", "payment_intent_id"]
    list_select_related = ["buyer"]
    date_hierarchy = "created_at"
    inlines = [OrderItemInline, OrderEventInline]
    actions = ["mark_reviewed"]
    fields = [
        "buyer",
        "status",
        "total",
        "currency",
        "payment_backend",
        "checkout_session_id",
        "checkout_url",
        "payment_intent_id",
        "idempotency_key",
        "expires_at",
        "tracking_number",
        "needs_review",
        "review_reason",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields

    @admin.action(description="Mark flagged orders as reviewed")
    def mark_reviewed(self, request, queryset) -> None:
        flagged = list(queryset.filter(needs_review=True))
        for order in flagged:
            services.order_review_resolve(order=order, actor=request.user)
        self.message_user(request, f"{len(flagged)} flagged order(s) marked as reviewed.")


@admin.register(PaymentEvent)
class PaymentEventAdmin(ViewOnlyAdmin):
    list_display = ["event_id", "event_type", "order", "received_at"]
    list_filter = ["event_type", "received_at"]
    search_fields = ["event_id", "=order__id"]
    list_select_related = ["order"]
    date_hierarchy = "received_at"


class CartItemInline(ReadOnlyInline):
    model = CartItem
    fields = ["product", "quantity", "added_at"]
    readonly_fields = fields


@admin.register(Cart)
class CartAdmin(ViewOnlyAdmin):
    list_display = ["id", "user", "created_at", "updated_at"]
    search_fields = ["user__username"]
    list_select_related = ["user"]
    fields = ["user", "session_token", "created_at", "updated_at"]
    readonly_fields = fields
    inlines = [CartItemInline]
