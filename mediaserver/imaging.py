"""Decoding pictures we did not make, without letting them hurt the server.

Avatars arrive from users and posters from library folders: either can be a decompression
bomb (a tiny file whose header claims billions of pixels), a truncated download, SVG with
script in it, or a phone photo carrying its GPS position in EXIF.  So every picture goes
through the same steps here: the byte size is checked before anything is parsed, only the
JPEG, PNG, WebP and GIF decoders may even look at it, the width and height from the header
are checked before a single pixel is decoded, and what we write back carries no metadata.
Nothing global in Pillow is changed (``Image.MAX_IMAGE_PIXELS`` stays as it is), so other
callers in the process are unaffected.  Every failure caused by the picture itself is an
:class:`ImageRejected` with a message that can be shown to the person who sent it.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import re
import tempfile
from pathlib import Path
from typing import IO

from PIL import Image, ImageFile, ImageOps, features

__all__ = [
    "AVATAR_CONTENT_TYPE",
    "MAX_AVATAR_BYTES",
    "MAX_AVATAR_PIXELS",
    "MAX_POSTER_PIXELS",
    "MAX_RESIZE_WIDTH",
    "ImageRejected",
    "normalise_avatar",
    "resized_image",
    "shrunk_jpeg",
]

MAX_AVATAR_BYTES = 5 * 1024 * 1024
MAX_AVATAR_PIXELS = 16_000_000
MAX_POSTER_PIXELS = 50_000_000
MAX_DOWNLOAD_BYTES = 10 * 1024 * 1024  # as remote_artwork.MAX_IMAGE_BYTES
MAX_RESIZE_WIDTH = 4096
JPEG_QUALITY = 85

# Pillow names; MPO is what Pillow calls a JPEG carrying extra frames (many phone cameras).
_ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
_ACCEPTED = frozenset({*_ALLOWED_FORMATS, "MPO"})
_WEBP = features.check_module("webp")
AVATAR_CONTENT_TYPE = "image/webp" if _WEBP else "image/png"
_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


class ImageRejected(ValueError):
    """The picture cannot be used; the message says why in words a person understands."""


def _megapixels(pixels: int) -> str:
    return f"{round(pixels / 1_000_000, 1):g} megapixels"


def _megabytes(size: int) -> str:
    return f"{round(size / (1024 * 1024), 1):g} MB"


def _looks_like_markup(data: bytes) -> bool:
    """SVG, XML or HTML: text whose first non-blank character is ``<``, or that says ``<svg``."""
    head = data[:4096]
    for bom in _BOMS:
        if head.startswith(bom):
            head = head[len(bom) :].replace(b"\x00", b"")  # UTF-16 text: drop the zero bytes
            break
    if head.lstrip().startswith(b"<"):
        return True
    return b"\x00" not in head and b"<svg" in head.lower()


def _open(fp: IO[bytes], max_pixels: int) -> ImageFile.ImageFile:
    """Open lazily (header only) and check the size the header claims; decodes nothing."""
    try:
        im = Image.open(fp, formats=_ALLOWED_FORMATS)
    except Image.UnidentifiedImageError:
        raise ImageRejected("this is not a JPEG, PNG, WebP or GIF picture") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own (larger) limit fired inside open(): it reports pixels, not sides.
        found = _BOMB_PIXELS.search(str(exc))
        claimed = f"has {_megapixels(int(found.group(1)))}" if found else "is far too large"
        raise ImageRejected(
            f"the picture {claimed}; the limit is {_megapixels(max_pixels)}"
        ) from None
    except Exception as exc:  # a header bad enough that no decoder copes
        raise ImageRejected("the picture could not be read; the file may be damaged") from exc
    (width, height), problem = im.size, ""
    if im.format not in _ACCEPTED:
        problem = "this is not a JPEG, PNG, WebP or GIF picture"
    elif width <= 0 or height <= 0 or width * height > max_pixels:
        problem = f"the picture is {width}×{height} pixels; the limit is {_megapixels(max_pixels)}"
    if problem:
        im.close()
        raise ImageRejected(problem)
    return im


def _has_alpha(im: Image.Image) -> bool:
    return im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in im.info


def _decode(im: ImageFile.ImageFile, scale: float) -> Image.Image:
    """The first frame, upright, as RGB or RGBA (``scale`` < 1 lets JPEG decode smaller)."""
    try:
        if scale < 1:
            im.draft(None, (math.ceil(im.width * scale), math.ceil(im.height * scale)))
        im.load()
        upright = ImageOps.exif_transpose(im)
        picture = upright.convert("RGBA" if _has_alpha(upright) else "RGB")
    except Exception as exc:  # truncated or corrupt pixel data, broken EXIF, ...
        raise ImageRejected("the picture is damaged or incomplete") from exc
    picture.info = {}  # EXIF, GPS, XMP, ICC, comments: none of it reaches what we write
    return picture


def normalise_avatar(
    data: bytes,
    *,
    max_bytes: int = MAX_AVATAR_BYTES,
    max_pixels: int = MAX_AVATAR_PIXELS,
    size: int = 256,
) -> bytes:
    """A square ``size``×``size`` picture (``AVATAR_CONTENT_TYPE``) made from uploaded bytes.

    The first frame of an animation is used, EXIF orientation is applied, the middle square
    is kept, and nothing but pixels is written.  Raises :class:`ImageRejected`.
    """
    if not 1 <= size <= MAX_RESIZE_WIDTH:
        raise ValueError(f"size must be between 1 and {MAX_RESIZE_WIDTH}, not {size}")
    if not data:
        raise ImageRejected("the file is empty")
    if len(data) > max_bytes:
        raise ImageRejected(
            f"the file is {_megabytes(len(data))}; the limit is {_megabytes(max_bytes)}"
        )
    if _looks_like_markup(data):
        raise ImageRejected("SVG and other markup are not accepted; use JPEG, PNG, WebP or GIF")
    with _open(io.BytesIO(data), max_pixels) as im:
        picture = _decode(im, size / min(im.size))
    try:
        w, h = picture.size
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        square = picture.resize(
            (size, size), Image.Resampling.LANCZOS, box=(left, top, left + side, top + side)
        )
        square.info = {}
        out = io.BytesIO()  # each format ignores the other's option
        square.save(out, "WEBP" if _WEBP else "PNG", quality=JPEG_QUALITY, optimize=True)
    except Exception as exc:
        raise ImageRejected("the picture could not be converted") from exc
    return out.getvalue()


def resized_image(
    source: Path, width: int, cache_dir: Path, *, max_pixels: int = MAX_POSTER_PIXELS
) -> Path:
    """``source`` scaled down to ``width`` pixels wide, as a JPEG cached in ``cache_dir``.

    Sources already ``width`` or narrower are returned unchanged (never upscaled).  The
    cache name covers the path, mtime_ns, size and width, so an edited source gets a new
    file; a cache hit decodes nothing.  Raises ValueError for a bad ``width``,
    :class:`ImageRejected` for a bad picture and OSError (FileNotFoundError) for a missing
    one.  Concurrent callers are safe: each writes a temporary file and renames it.
    """
    _check_width(width)
    st = source.stat()
    key = f"{source.resolve()}\0{st.st_mtime_ns}\0{st.st_size}\0{width}"
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    target = cache_dir / f"{digest}-w{width}.jpg"
    if target.is_file():
        return target
    with source.open("rb") as fh, _open(fh, max_pixels) as im:
        if _shown_width(im) <= width:
            return source
        encoded = _jpeg(im, width)
    cache_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=cache_dir, prefix=".resize-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(encoded)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return target


def shrunk_jpeg(
    data: bytes,
    width: int,
    *,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
    max_pixels: int = MAX_POSTER_PIXELS,
) -> bytes:
    """Downloaded picture bytes as a JPEG at most ``width`` pixels wide (never upscaled),
    upright and without metadata.  Raises :class:`ImageRejected`."""
    _check_width(width)
    if not data:
        raise ImageRejected("the file is empty")
    if len(data) > max_bytes:
        raise ImageRejected(
            f"the file is {_megabytes(len(data))}; the limit is {_megabytes(max_bytes)}"
        )
    with _open(io.BytesIO(data), max_pixels) as im:
        return _jpeg(im, width)


def _check_width(width: int) -> None:
    if isinstance(width, bool) or not isinstance(width, int) or not 1 <= width <= MAX_RESIZE_WIDTH:
        raise ValueError(
            f"width must be a whole number from 1 to {MAX_RESIZE_WIDTH}, not {width!r}"
        )


def _shown_width(im: ImageFile.ImageFile) -> int:
    """The width once EXIF orientation is applied (5..8 swap width and height)."""
    try:
        orientation = im.getexif().get(0x0112, 1)
    except Exception:
        orientation = 1  # unreadable EXIF: _decode reports it if it matters
    return im.height if orientation in (5, 6, 7, 8) else im.width


def _jpeg(im: ImageFile.ImageFile, width: int) -> bytes:
    """The picture, upright, at most ``width`` wide, as JPEG bytes without metadata."""
    picture = _decode(im, min(1.0, width / _shown_width(im)))
    try:
        if picture.width > width:
            height = max(1, round(picture.height * width / picture.width))
            picture = picture.resize((width, height), Image.Resampling.LANCZOS)
        if picture.mode == "RGBA":  # JPEG has no alpha: lay it on black (the UI is dark)
            black = Image.new("RGBA", picture.size, (0, 0, 0, 255))
            picture = Image.alpha_composite(black, picture)
        rgb = picture.convert("RGB")
        rgb.info = {}
        encoded = io.BytesIO()
        rgb.save(encoded, "JPEG", quality=JPEG_QUALITY, optimize=True)
    except Exception as exc:
        raise ImageRejected("the picture could not be converted") from exc
    return encoded.getvalue()
