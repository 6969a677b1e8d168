"""Named reads of accounts: sellers, who follows whom, and the followed sellers' shows."""

from django.db.models import QuerySet

from accounts.models import Follow, User
from rooms.models import ShoppingRoom
from rooms.selectors import rooms_for_listing

# What a feed shows: a show that can still be watched, now or later.
FEED_STATUSES = (ShoppingRoom.Status.LIVE, ShoppingRoom.Status.SCHEDULED)


def active_sellers() -> QuerySet[User]:
    """The sellers whose profile anyone may see (a deactivated account has none)."""
    return User.objects.filter(role=User.Role.SELLER, is_active=True)


def seller_get(seller_id) -> User | None:
    return active_sellers().filter(pk=seller_id).first()


def follower_count(seller: User) -> int:
    """How many people follow the seller; deactivated accounts no longer count."""
    return Follow.objects.filter(seller=seller, follower__is_active=True).count()


def following_count(user: User) -> int:
    """How many sellers the user follows that can still be seen."""
    return follows_of(user).count()


def is_following(*, follower, seller: User) -> bool:
    """False for a visitor who is not signed in."""
    if not getattr(follower, "is_authenticated", False):
        return False
    return Follow.objects.filter(follower=follower, seller=seller).exists()


def follows_of(user: User) -> QuerySet[Follow]:
    """The user's follows of active sellers, latest first (with the seller)."""
    return (
        Follow.objects.filter(follower=user, seller__is_active=True, seller__role=User.Role.SELLER)
        .select_related("seller")
        .order_by("-created_at", "-pk")
    )


def seller_rooms(*, seller: User, status: str) -> QuerySet[ShoppingRoom]:
    """One seller's rooms of one status, in the rooms list's order."""
    return rooms_for_listing().filter(seller=seller, status=status)


def feed_rooms(user) -> QuerySet[ShoppingRoom]:
    """Live and upcoming rooms of the sellers the user follows: live first, then upcoming by
    scheduled start (the rooms list's order, so both lists read alike). Ended rooms and
    deactivated sellers are left out; a visitor who is not signed in has an empty feed."""
    if not getattr(user, "is_authenticated", False):
        return ShoppingRoom.objects.none()
    return rooms_for_listing().filter(
        status__in=FEED_STATUSES,
        seller__role=User.Role.SELLER,
        seller__followers__follower=user,
    )
