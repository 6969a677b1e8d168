# Placeholder: the order pages are being written.
from django.http import HttpResponse


def _todo(request, pk=None):
    return HttpResponse("coming", status=501)


cart_page = cart_add = cart_item_update = checkout = checkout_success = checkout_cancel = _todo
order_list = order_detail = order_pay = order_cancel = dummy_payment = _todo
seller_orders = seller_order_detail = seller_order_ship = _todo
