"""Uploaded images: only real images are accepted, and every one is re-encoded.

Re-encoding with Pillow drops whatever else the file carried (a polyglot's HTML, EXIF
metadata) and the stored name is generated here, never taken from the client.
"""

import io
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

ALLOWED_FORMATS = {"JPEG", "PNG", "GIF", "WEBP"}
MAX_STORED_SIDE = 2000  # pixels; larger photos are scaled down, pages never need more


def normalize_image(upload, *, field: str = "image") -> ContentFile:
    """Check an uploaded file and return a re-encoded copy under a fresh name.

    Raises django ValidationError on `field`, with a message a person can act on."""
    try:
        return _checked_and_encoded(upload)
    except ValidationError as exc:
        raise ValidationError({field: exc.error_list}) from None


def _checked_and_encoded(upload) -> ContentFile:
    size = getattr(upload, "size", None)
    limit = settings.MAX_IMAGE_UPLOAD_BYTES
    if size is not None and size > limit:
        raise ValidationError(
            _("The image is %(size).1f MB; the limit is %(limit)s MB.")
            % {"size": size / 1_048_576, "limit": limit // 1_048_576},
            code="file_too_large",
        )
    try:
        upload.seek(0)
        with Image.open(upload) as probe:
            image_format = probe.format
            width, height = probe.size
            if image_format not in ALLOWED_FORMATS:
                raise ValidationError(
                    _("Upload a JPEG, PNG, GIF or WebP image."), code="invalid_image_format"
                )
            # Checked before decoding anything, so a pixel flood never reaches memory.
            if width * height > settings.MAX_IMAGE_PIXELS:
                raise ValidationError(
                    _("The image is %(width)sx%(height)s pixels, which is too large.")
                    % {"width": width, "height": height},
                    code="image_too_large",
                )
            probe.verify()
        upload.seek(0)
        with Image.open(upload) as image:
            image = ImageOps.exif_transpose(image)
            image.thumbnail((MAX_STORED_SIDE, MAX_STORED_SIDE))
            return _encode(image)
    except ValidationError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError):
        raise ValidationError(
            _("The file is not a valid image (or it is damaged)."), code="invalid_image"
        ) from None


def _encode(image: Image.Image) -> ContentFile:
    buffer = io.BytesIO()
    has_alpha = image.mode in {"RGBA", "LA", "P"} and (
        image.mode != "P" or "transparency" in image.info
    )
    if has_alpha:
        image.convert("RGBA").save(buffer, format="PNG", optimize=True)
        extension = "png"
    else:
        image.convert("RGB").save(buffer, format="JPEG", quality=88, optimize=True)
        extension = "jpg"
    return ContentFile(buffer.getvalue(), name=f"{uuid.uuid4().hex}.{extension}")
