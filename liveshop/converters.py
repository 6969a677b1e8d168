"""URL converter for primary keys: integers on SQL databases, 24-hex ObjectIds on MongoDB.

Only the form the configured database can hold matches, so a malformed id is a plain 404."""

from django.conf import settings
from django.urls import register_converter


class PrimaryKeyConverter:
    regex = r"[0-9a-f]{24}" if settings.USING_MONGODB else r"[0-9]{1,18}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: object) -> str:
        return str(value)


register_converter(PrimaryKeyConverter, "pk")
