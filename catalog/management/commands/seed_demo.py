"""Demo data for the embedded default: three accounts, categories, a dozen products and two
shopping rooms (one live, one upcoming).

Idempotent (run it as often as you like) and refused when DEBUG is off, so it can never
plant known passwords on a production site."""

import io
import random
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from PIL import Image, ImageDraw

from accounts import services as account_services
from accounts.models import User
from catalog import services as catalog_services
from catalog.models import Category, Product
from rooms import services as room_services
from rooms.models import ShoppingRoom

DEMO_PASSWORD = "liveshop-demo"
DEMO_ACCOUNTS = [
    ("demo_seller", "seller@demo.liveshop.local", "seller"),
    ("demo_buyer", "buyer@demo.liveshop.local", "buyer"),
    ("demo_staff", "staff@demo.liveshop.local", "staff"),
]
CATEGORIES = ["Fashion", "Beauty", "Home", "Electronics", "Collectibles"]
PRODUCTS = [
    ("Denim jacket, stonewashed", "Fashion", "59.00", 12, (58, 90, 152)),
    ("Silk scarf, sunset print", "Fashion", "24.50", 3, (232, 112, 64)),
    ("Canvas sneakers", "Fashion", "45.00", 0, (240, 240, 232)),
    ("Vitamin C serum 30 ml", "Beauty", "18.90", 40, (250, 190, 60)),
    ("Matte lipstick, berry", "Beauty", "12.00", 25, (150, 30, 70)),
    ("Stoneware mug set (4)", "Home", "32.00", 8, (120, 140, 130)),
    ("Linen cushion cover", "Home", "16.00", 20, (200, 185, 160)),
    ("Scented soy candle", "Home", "14.50", 2, (245, 220, 200)),
    ("Wireless earbuds", "Electronics", "79.00", 15, (30, 30, 40)),
    ("Ring light, 10 inch", "Electronics", "27.99", 9, (220, 220, 255)),
    ("Vintage trading card pack", "Collectibles", "9.99", 60, (200, 60, 60)),
    ("Enamel pin, live-shop logo", "Collectibles", "6.00", 100, (228, 64, 95)),
]
# (title, description, starts in, goes live, product names, spotlighted product, colour)
ROOMS = [
    (
        "Evening drop: denim and silk",
        "Jackets, scarves and sneakers, tried on live. Ask for sizes in the chat.",
        timedelta(minutes=-10),
        True,
        [
            "Denim jacket, stonewashed",
            "Silk scarf, sunset print",
            "Canvas sneakers",
            "Linen cushion cover",
        ],
        "Denim jacket, stonewashed",
        (58, 90, 152),
    ),
    (
        "Sunday beauty hour",
        "Serums, lipsticks and candles: a slow, cosy show with a Q&A.",
        timedelta(days=2),
        False,
        ["Vitamin C serum 30 ml", "Matte lipstick, berry", "Scented soy candle"],
        None,
        (150, 30, 70),
    ),
]


def room_cover(title: str, colour: tuple[int, int, int]) -> ContentFile:
    """A generated 16:9 cover: the colour fading to navy, with the show's title."""
    width, height = 960, 540
    image = Image.new("RGB", (width, height), colour)
    draw = ImageDraw.Draw(image)
    navy = (27, 35, 64)
    for x in range(width):
        t = x / width
        shade = tuple(int(c * (1 - t) + n * t) for c, n in zip(colour, navy, strict=True))
        draw.line([(x, 0), (x, height)], fill=shade)
    draw.text((48, height - 120), title, fill=(255, 255, 255), font_size=44)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return ContentFile(buffer.getvalue(), name="cover.png")


def product_image(name: str, colour: tuple[int, int, int]) -> ContentFile:
    """A simple generated picture: a gradient in the product's colour with its initial."""
    size = 480
    image = Image.new("RGB", (size, size), colour)
    draw = ImageDraw.Draw(image)
    for y in range(size):
        shade = tuple(min(255, int(c * (0.75 + 0.5 * y / size))) for c in colour)
        draw.line([(0, y), (size, y)], fill=shade)
    rng = random.Random(name)
    for _ in range(6):
        x, y, r = rng.randrange(size), rng.randrange(size), rng.randrange(20, 90)
        draw.ellipse([x - r, y - r, x + r, y + r], outline=(255, 255, 255), width=3)
    draw.text((size // 2 - 20, size // 2 - 40), name[0].upper(), fill=(255, 255, 255), font_size=96)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return ContentFile(buffer.getvalue(), name="demo.png")


class Command(BaseCommand):
    help = "Load demo accounts, categories and products (idempotent; DEBUG only)."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError(
                "seed_demo plants known passwords: it refuses to run with DEBUG off."
            )
        with transaction.atomic():
            users = self._accounts()
            self._catalog(seller=users["demo_seller"])
            rooms = self._rooms(seller=users["demo_seller"], moderator=users["demo_staff"])
        self.stdout.write(self.style.SUCCESS("Demo data ready. Accounts (password for all three):"))
        for username, _email, role in DEMO_ACCOUNTS:
            self.stdout.write(f"  {role:<7} {username:<12} {DEMO_PASSWORD}")
        self.stdout.write("Shopping rooms:")
        for room in rooms:
            self.stdout.write(f"  {room.status:<9} {room.get_absolute_url():<14} {room.title}")

    def _accounts(self) -> dict[str, User]:
        users = {}
        for username, email, role in DEMO_ACCOUNTS:
            user = User.objects.filter(username=username).first()
            if user is None:
                if role == "staff":
                    user = account_services.staff_user_create(
                        username=username, email=email, password=DEMO_PASSWORD
                    )
                else:
                    user = account_services.user_register(
                        username=username,
                        email=email,
                        password=DEMO_PASSWORD,
                        enforce_password_rules=False,
                    )
                    if role == "seller":
                        account_services.user_become_seller(
                            user=user,
                            shop_name="Demo Boutique",
                            bio="Fashion, beauty and home finds, live every evening.",
                        )
                account_services.user_update_profile(
                    user=user, display_name=username.replace("_", " ").title()
                )
            users[username] = user
        return users

    def _catalog(self, *, seller: User) -> None:
        categories = {}
        for name in CATEGORIES:
            categories[name] = Category.objects.filter(name=name).first() or (
                catalog_services.category_create(name=name)
            )
        for name, category, price, stock, colour in PRODUCTS:
            if Product.objects.filter(seller=seller, name=name).exists():
                continue
            catalog_services.product_create(
                seller=seller,
                name=name,
                description=f"{name}. Shown live by Demo Boutique: ask anything in the chat.",
                price=Decimal(price),
                stock=stock,
                category=categories[category],
                image=product_image(name, colour),
            )

    def _rooms(self, *, seller: User, moderator: User) -> list[ShoppingRoom]:
        """One live room and one upcoming. A room that was ended since is planted again, so
        a fresh run always leaves something live to watch; an open one is left alone."""
        rooms = []
        now = timezone.now()
        for title, description, starts_in, live, names, spotlight, colour in ROOMS:
            room = (
                ShoppingRoom.objects.filter(seller=seller, title=title)
                .exclude(status=ShoppingRoom.Status.ENDED)
                .first()
            )
            if room is None:
                products = Product.objects.filter(seller=seller, name__in=names)
                room = room_services.room_create(
                    seller=seller,
                    title=title,
                    description=description,
                    scheduled_start=now + starts_in,
                    products=products,
                    moderators=[moderator],
                    cover_image=room_cover(title, colour),
                )
                if live:
                    room = room_services.room_go_live(room=room, actor=seller)
                if spotlight:
                    product = products.get(name=spotlight)
                    room_services.room_spotlight(room=room, actor=seller, product_id=product.pk)
            rooms.append(room)
        return rooms
