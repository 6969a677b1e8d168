"""Small builders shared by the catalog tests: odd files, what an upload leaves behind, and
the product list's filter cases (the page and the API take the same query parameters)."""

import io
import re
import struct
import zlib
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from conftest import image_bytes

# products/<year>/<month>/<32 hex>.png|jpg: a name made by the server, never the client's.
STORED_IMAGE_NAME = re.compile(r"^products/\d{4}/\d{2}/[0-9a-f]{32}\.(png|jpg)$")
GENERATED_NAME = re.compile(r"^[0-9a-f]{32}\.(png|jpg)$")

PDF_BYTES = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
    b"trailer << /Root 1 0 R >>\n%%EOF\n"
)

SVG_WITH_SCRIPT = (
    b'<?xml version="1.0"?>\n'
    b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>alert(1)</script><rect width='10' height='10'/></svg>"
)


def upload(name: str, content: bytes, content_type: str = "image/png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


def pdf_as_png(name: str = "invoice.png") -> SimpleUploadedFile:
    return upload(name, PDF_BYTES)


def truncated_png(name: str = "broken.png") -> SimpleUploadedFile:
    # A noisy picture compresses badly, so cutting it in half really loses pixel data.
    picture = Image.effect_noise((256, 256), 80).convert("RGB")
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    data = buffer.getvalue()
    return upload(name, data[: len(data) // 2])


def png_html_polyglot(name: str = "cat.png") -> SimpleUploadedFile:
    return upload(name, image_bytes("PNG") + b"<script>alert(1)</script>")


def png_declaring_size(width: int, height: int, name: str = "flood.png") -> SimpleUploadedFile:
    """A small real PNG whose header claims width x height pixels (a "pixel flood")."""
    data = bytearray(image_bytes("PNG", size=(8, 8)))
    # Signature (8) + IHDR length (4) + b"IHDR" (4), then width, height and 5 more bytes.
    assert data[12:16] == b"IHDR"
    ihdr = bytes(data[16:29])
    ihdr = struct.pack(">II", width, height) + ihdr[8:]
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    return upload(name, bytes(data))


def stored_files() -> list[Path]:
    """Every file written under MEDIA_ROOT (each test has its own, see the root conftest)."""
    root = Path(settings.MEDIA_ROOT)
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.exists() else []


def assert_error_shape(body: dict, *, code: str | None = None) -> dict:
    """Every 4xx answer of the API: {"error": {"code", "message", "fields"}}."""
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "fields"}, error
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["fields"], dict)
    if code is not None:
        assert error["code"] == code, error
    return error


# --- the product list's filters ---------------------------------------------------------
# The page (/products/) and the API (/api/v1/products/) share catalog/filters.py; each test
# file runs every case through its own door, so neither can drift from the other. A case
# makes products and returns its queries with the names each must list.


def text_search_matches_name_and_description_in_any_case(make_product, **_):
    make_product(name="Red silk scarf")
    make_product(name="Wool hat", description="Matches the SCARF of the set")
    make_product(name="Leather belt")
    hits = ["Red silk scarf", "Wool hat"]
    return [({"q": "scarf"}, hits), ({"q": "SCARF"}, hits)]


def category_by_its_slug(make_product, shoes, **_):
    make_product(name="Denim jacket")
    make_product(name="Sneakers", category=shoes)
    return [({"category": "shoes"}, ["Sneakers"])]


def price_range_includes_both_ends(make_product, **_):
    for price in ("5.00", "10.00", "20.00", "30.00"):
        make_product(name=f"at {price}", price=Decimal(price))
    hits = ["at 10.00", "at 20.00"]
    return [
        ({"min_price": "10", "max_price": "20.00"}, hits),
        ({"min_price": "10", "max_price": "20"}, hits),
    ]


def in_stock_true_and_false(make_product, **_):
    make_product(name="Available", stock=2)
    make_product(name="Sold out", stock=0)
    return [({"in_stock": "true"}, ["Available"]), ({"in_stock": "false"}, ["Sold out"])]


def seller_by_username_in_any_case(make_product, other_seller, **_):
    make_product(name="Sam's jacket")
    make_product(name="Olga's vase", seller=other_seller)
    return [
        ({"seller": "olga_seller"}, ["Olga's vase"]),
        ({"seller": "Olga_Seller"}, ["Olga's vase"]),
    ]


def ordering_by_price_and_by_newest(make_product, **_):
    from catalog.models import Product

    middle = make_product(name="middle", price=Decimal("20.00"))
    cheap = make_product(name="cheap", price=Decimal("5.00"))
    dear = make_product(name="dear", price=Decimal("90.00"))
    # Distinct creation times, whatever the clock resolution.
    for age, product in enumerate([dear, cheap, middle]):
        Product.objects.filter(pk=product.pk).update(
            created_at=product.created_at.replace(year=2020 - age)
        )
    return [
        ({"ordering": "price"}, ["cheap", "middle", "dear"]),
        ({"ordering": "-price"}, ["dear", "middle", "cheap"]),
        ({"ordering": "-created_at"}, ["dear", "cheap", "middle"]),
    ]


FILTER_FIXTURES = ("make_product", "shoes", "other_seller")
FILTER_CASES = [
    text_search_matches_name_and_description_in_any_case,
    category_by_its_slug,
    price_range_includes_both_ends,
    in_stock_true_and_false,
    seller_by_username_in_any_case,
    ordering_by_price_and_by_newest,
]


def check_filter_case(case, request, listed: Callable[[dict], list[str]]) -> None:
    """Make the case's products (with the FILTER_FIXTURES the test uses), then ask each of
    its queries through `listed` (query parameters -> names listed). A query that asks for
    an order must list exactly that order; the others are compared sorted (products made in
    one test may share a creation time, so "newest first" does not order them)."""
    fixtures = {name: request.getfixturevalue(name) for name in FILTER_FIXTURES}
    for params, expected in case(**fixtures):
        names = listed(params)
        assert (names if "ordering" in params else sorted(names)) == expected, params
