"""Small builders shared by the catalog tests: odd files and what an upload leaves behind."""

import io
import re
import struct
import zlib
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
