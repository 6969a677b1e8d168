"""Background jobs (liveshop/background.py) on the real worker thread: they start after
commit, never on the caller's thread, survive a failing job, and carry a go-live's
notifications to every follower in batches."""

import logging
import threading

import pytest
from django.db import transaction
from django.utils import timezone

from accounts.models import Follow, User
from liveshop.background import drain, run_after_commit
from notifications.models import Notification
from notifications.services import BATCH_SIZE
from rooms import services as room_services

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def real_worker(settings):
    settings.BACKGROUND_INLINE = False
    yield
    drain()  # the test database goes away next: no job may still be writing to it


def test_a_job_starts_after_commit_on_the_worker_while_the_caller_goes_on():
    started, release, done = threading.Event(), threading.Event(), threading.Event()
    ran_on: list[str] = []

    def job():
        ran_on.append(threading.current_thread().name)
        started.set()
        release.wait(10)
        done.set()

    with transaction.atomic():
        run_after_commit(job, name="test job")
        assert not started.wait(0.2)  # nothing before the commit
    assert started.wait(10)
    assert not done.is_set()  # the caller is back while the job still runs
    release.set()
    assert done.wait(10)
    assert ran_on[0].startswith("liveshop-background")
    assert ran_on[0] != threading.current_thread().name


def test_a_rolled_back_transaction_runs_nothing():
    ran = threading.Event()
    with pytest.raises(RuntimeError), transaction.atomic():
        run_after_commit(ran.set, name="never")
        raise RuntimeError("roll back")
    run_after_commit(lambda: None, name="flush")  # jobs run in order: this one comes after
    assert not ran.wait(0.5)


def test_a_failing_job_is_logged_and_the_next_one_still_runs(caplog):
    ran = threading.Event()

    def broken():
        raise ValueError("boom")

    with caplog.at_level(logging.ERROR, logger="liveshop.background"):
        run_after_commit(broken, name="broken job")
        run_after_commit(ran.set, name="next job")
        assert ran.wait(10)
    assert "background job broken job failed" in caplog.text


def test_going_live_notifies_every_follower_in_batches(make_user):
    seller = make_user("big_seller", seller=True)
    followers = User.objects.bulk_create(
        User(username=f"fan{n}", email=f"fan{n}@example.test") for n in range(2 * BATCH_SIZE + 7)
    )
    Follow.objects.bulk_create(Follow(follower=fan, seller=seller) for fan in followers)
    room = room_services.room_create(
        seller=seller, title="Big show", scheduled_start=timezone.now()
    )

    room_services.room_go_live(room=room, actor=seller)

    drain()
    notified = Notification.objects.filter(room=room)
    assert set(notified.values_list("user_id", flat=True)) == {fan.pk for fan in followers}
