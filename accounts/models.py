from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A LiveShop account. Everyone starts as a buyer; "become a seller" opens a shop.
    Staff is Django's `is_staff`, never a role a user can pick."""

    class Role(models.TextChoices):
        BUYER = "buyer", "Buyer"
        SELLER = "seller", "Seller"

    role = models.CharField(max_length=10, choices=Role.choices, default=Role.BUYER)
    display_name = models.CharField(max_length=80, blank=True)
    avatar = models.ImageField(upload_to="avatars/%Y/%m/", blank=True)
    shop_name = models.CharField(max_length=80, blank=True)
    bio = models.TextField(max_length=2000, blank=True)

    @property
    def is_seller(self) -> bool:
        return self.role == self.Role.SELLER

    @property
    def public_name(self) -> str:
        return self.display_name or self.username

    def __str__(self) -> str:
        return self.username
