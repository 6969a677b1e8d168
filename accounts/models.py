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


class RevokedToken(models.Model):
    """A refresh token that may never be used again (logged out, or rotated away).

    LiveShop keeps its own list rather than simplejwt's token_blacklist app: that app's
    models declare BigAutoField keys, which MongoDB cannot store. Rows can be purged once
    `expires_at` has passed (`manage.py purge_revoked_tokens`)."""

    jti = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, null=True, related_name="+")
    revoked_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.jti


class Follow(models.Model):
    """A user following a seller: the seller's live and upcoming shows appear in their feed.

    Written only by accounts.services (seller_follow / seller_unfollow), which also refuses
    following a non-seller; the constraints hold the rest even against a race."""

    follower = models.ForeignKey(User, on_delete=models.CASCADE, related_name="following")
    seller = models.ForeignKey(User, on_delete=models.CASCADE, related_name="followers")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["follower", "seller"], name="follow_unique_pair"),
            models.CheckConstraint(
                condition=~models.Q(follower=models.F("seller")), name="follow_not_self"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.follower} follows {self.seller}"
