from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = "Orders and payments"

    def ready(self) -> None:
        from orders import signals  # noqa: F401  (merges the session cart at login)
