"""Cancel pending orders whose 30-minute payment window has closed and return their stock.

Stripe also sends checkout.session.expired for its sessions; this catches orders whose payment
page was never opened (the database failed at that moment) or whose webhook never came, and
dummy-backend orders. Run it every minute: docker-compose's `scheduler` service does (a cron
job or a systemd timer elsewhere)."""

from django.core.management.base import BaseCommand

from orders.services import orders_expire_overdue


class Command(BaseCommand):
    help = "Cancel pending orders past their payment window and release their stock."

    def handle(self, *args, **options):
        expired = orders_expire_overdue()
        self.stdout.write(f"Expired {expired} order{'s' if expired != 1 else ''}.")
