"""Notification test fixtures: rooms (the rooms tests' factory), reminders and follows."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import services as account_services
from notifications import services
from rooms.tests import conftest as room_fixtures

# The rooms tests' fixtures: a room factory, and an empty room store for every test.
make_room = room_fixtures.make_room
_empty_room_store = room_fixtures._empty_room_store


@pytest.fixture
def upcoming_room(make_room):
    return make_room(title="Spring hats", scheduled_start=timezone.now() + timedelta(days=1))


@pytest.fixture
def remind():
    def remind_(user, room):
        return services.room_reminder_set(user=user, room=room)[0]

    return remind_


@pytest.fixture
def follow(seller):
    def follow_(user, of=None):
        return account_services.seller_follow(follower=user, seller=of or seller)[0]

    return follow_
