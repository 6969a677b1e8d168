from asgiref.sync import async_to_sync

from catalog import services as catalog_services
from rooms import services
from rooms.models import ShoppingRoom
from rooms.store import get_store


def test_taking_a_spotlighted_product_off_sale_clears_the_spotlight(
    make_room, seller, django_capture_on_commit_callbacks
):
    room = make_room(live=True)
    product = room.products.get()
    with django_capture_on_commit_callbacks(execute=True):
        services.room_spotlight(room=room, actor=seller, product_id=product.pk)
    assert async_to_sync(get_store().spotlight_get)(str(room.pk))["id"] == product.pk

    with django_capture_on_commit_callbacks(execute=True):
        catalog_services.product_deactivate(product=product, actor=seller)

    assert ShoppingRoom.objects.get(pk=room.pk).spotlight_product is None
    assert async_to_sync(get_store().spotlight_get)(str(room.pk)) is None
