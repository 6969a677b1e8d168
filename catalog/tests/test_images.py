"""Product images: only real pictures are stored, always re-encoded under a server-made name.

normalize_image (liveshop/images.py) is exercised directly and through catalog.services,
the path every page and API request takes."""

import io
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from PIL import Image

from catalog import services
from catalog.models import Product
from catalog.tests.helpers import (
    GENERATED_NAME,
    STORED_IMAGE_NAME,
    SVG_WITH_SCRIPT,
    pdf_as_png,
    png_declaring_size,
    png_html_polyglot,
    stored_files,
    truncated_png,
    upload,
)
from conftest import image_bytes, image_upload
from liveshop.images import normalize_image


def opened(content: bytes) -> Image.Image:
    picture = Image.open(io.BytesIO(content))
    picture.load()
    return picture


def create_with_image(seller, category, image) -> Product:
    return services.product_create(
        seller=seller, name="Framed print", price=Decimal("30.00"), category=category, image=image
    )


def assert_refused(seller, category, image, *, says: str) -> None:
    with pytest.raises(ValidationError) as refused:
        create_with_image(seller, category, image)
    assert "image" in refused.value.message_dict
    assert says in " ".join(refused.value.message_dict["image"])
    assert not Product.objects.exists()
    assert stored_files() == []


# --- accepted, and never stored as uploaded ---------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF"])
def test_real_images_are_accepted_and_re_encoded(fmt):
    original = image_bytes(fmt, size=(40, 30))

    stored = normalize_image(upload(f"holiday.{fmt.lower()}", original))

    content = stored.read()
    assert content != original
    assert GENERATED_NAME.match(stored.name), stored.name
    picture = opened(content)
    assert picture.size == (40, 30)
    assert picture.format in {"PNG", "JPEG"}
    assert stored.name.endswith(".png" if picture.format == "PNG" else ".jpg")


def test_every_upload_gets_a_fresh_name():
    names = {normalize_image(image_upload("same.png")).name for _ in range(3)}

    assert len(names) == 3


def test_transparent_image_stays_a_transparent_png():
    buffer = io.BytesIO()
    Image.new("RGBA", (20, 20), (0, 0, 0, 0)).save(buffer, format="PNG")

    stored = normalize_image(upload("logo.png", buffer.getvalue()))

    assert stored.name.endswith(".png")
    assert opened(stored.read()).getpixel((5, 5))[3] == 0


def test_product_image_is_stored_under_a_server_generated_name(seller, category):
    product = create_with_image(seller, category, image_upload("../../etc/passwd.png"))

    assert STORED_IMAGE_NAME.match(product.image.name), product.image.name
    assert "passwd" not in product.image.name
    assert [path.name for path in stored_files()] == [product.image.name.rsplit("/", 1)[1]]


def test_camera_metadata_is_removed(tmp_path):
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x0131] = "HomeAddressEditor"  # Software
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 200, 10)).save(buffer, format="JPEG", exif=exif)
    assert b"SecretCam" in buffer.getvalue()

    content = normalize_image(upload("phone.jpg", buffer.getvalue(), "image/jpeg")).read()

    assert b"SecretCam" not in content
    assert b"HomeAddressEditor" not in content


def test_large_photos_are_scaled_down():
    stored = normalize_image(upload("panorama.png", image_bytes("PNG", size=(3000, 60))))

    assert opened(stored.read()).size == (2000, 40)


def test_png_html_polyglot_is_stored_without_the_html(seller, category):
    product = create_with_image(seller, category, png_html_polyglot())

    stored = product.image.read()
    assert b"<script>" not in stored
    assert b"alert(1)" not in stored
    assert opened(stored).size == (64, 48)


# --- refused ----------------------------------------------------------------------------


def test_image_over_five_megabytes_is_refused(seller, category):
    padded = image_bytes("PNG") + b"\0" * (5 * 1024 * 1024)

    assert_refused(seller, category, upload("huge.png", padded), says="the limit is 5 MB")


def test_image_over_a_lowered_size_limit_is_refused(settings, seller, category):
    settings.MAX_IMAGE_UPLOAD_BYTES = 100

    assert_refused(seller, category, image_upload(), says="limit")


def test_pdf_renamed_png_is_refused(seller, category):
    assert_refused(seller, category, pdf_as_png(), says="not a valid image")


def test_svg_with_script_is_refused(seller, category):
    svg = upload("icon.svg", SVG_WITH_SCRIPT, "image/svg+xml")

    assert_refused(seller, category, svg, says="not a valid image")


def test_svg_with_script_renamed_png_is_refused(seller, category):
    assert_refused(seller, category, upload("icon.png", SVG_WITH_SCRIPT), says="not a valid")


def test_truncated_png_is_refused(seller, category):
    assert_refused(seller, category, truncated_png(), says="not a valid image")


def test_other_image_formats_are_refused(seller, category):
    bmp = upload("old.bmp", image_bytes("BMP"), "image/bmp")

    assert_refused(seller, category, bmp, says="Upload a JPEG, PNG, GIF or WebP image")


def test_image_with_more_pixels_than_allowed_is_refused(settings, seller, category):
    settings.MAX_IMAGE_PIXELS = 100

    assert_refused(seller, category, image_upload(size=(20, 20)), says="20x20 pixels")


def test_pixel_flood_header_is_refused_without_decoding(seller, category):
    # 10000 x 5000 = 50 megapixels: over the site's 40 MP limit, under Pillow's own guard.
    assert_refused(seller, category, png_declaring_size(10_000, 5_000), says="too large")


def test_gigantic_pixel_flood_header_is_refused(seller, category):
    # 30000 x 30000 = 900 megapixels: refused before a single row is decoded.
    assert_refused(seller, category, png_declaring_size(30_000, 30_000), says="")


def test_refused_image_on_update_keeps_the_old_one(seller, category):
    product = create_with_image(seller, category, image_upload())
    old_name = product.image.name

    with pytest.raises(ValidationError):
        services.product_update(product=product, actor=seller, image=pdf_as_png())

    product.refresh_from_db()
    assert product.image.name == old_name
    assert len(stored_files()) == 1
