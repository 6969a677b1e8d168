"""URL converter for primary keys: integers on SQL databases, 24-hex ObjectIds on MongoDB."""

from django.urls import register_converter


class PrimaryKeyConverter:
    regex = r"[0-9]{1,18}|[0-9a-f]{24}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: object) -> str:
        return str(value)


register_converter(PrimaryKeyConverter, "pk")
