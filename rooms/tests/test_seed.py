"""seed_demo plants a live room and an upcoming one for demo_seller, once."""

from django.core.management import call_command

from rooms import services
from rooms.models import ShoppingRoom


def seed(settings) -> None:
    settings.DEBUG = True  # pytest-django turns DEBUG off; seed_demo is for development
    call_command("seed_demo")


def test_seed_demo_creates_a_live_and_an_upcoming_room_once(db, settings, capsys):
    seed(settings)
    seed(settings)

    rooms = ShoppingRoom.objects.filter(seller__username="demo_seller")
    assert rooms.count() == 2
    live = rooms.get(status=ShoppingRoom.Status.LIVE)
    upcoming = rooms.get(status=ShoppingRoom.Status.SCHEDULED)
    assert live.started_at is not None
    assert live.products.count() == 4 and upcoming.products.count() == 3
    assert live.spotlight_product in live.products.all()
    assert upcoming.scheduled_start > live.scheduled_start
    assert live.cover_image and upcoming.cover_image
    assert [m.username for m in live.moderators.all()] == ["demo_staff"]
    assert f"/rooms/{live.pk}/" in capsys.readouterr().out


def test_seed_demo_plants_a_new_live_room_once_the_old_one_ended(db, settings):
    seed(settings)
    live = ShoppingRoom.objects.get(status=ShoppingRoom.Status.LIVE)
    services.room_end(room=live, actor=live.seller)

    seed(settings)

    assert ShoppingRoom.objects.filter(status=ShoppingRoom.Status.LIVE).count() == 1
    assert ShoppingRoom.objects.filter(status=ShoppingRoom.Status.SCHEDULED).count() == 1
    assert ShoppingRoom.objects.count() == 3


def test_seeded_rooms_show_on_the_home_page(db, settings, client):
    seed(settings)

    response = client.get("/")

    assert [room.title for room in response.context["live_rooms"]] == [
        "Evening drop: denim and silk"
    ]
    assert "Sunday beauty hour" in response.text
