"""Avatars and resized posters from real pictures made with Pillow (and a few made by hand)."""

from __future__ import annotations

import io
import os
import random
import resource
import struct
import threading
import time
import tracemalloc
import warnings
import zlib
from pathlib import Path

import pytest
from PIL import ExifTags, Image, ImageFile

from mediaserver.imaging import (
    AVATAR_CONTENT_TYPE,
    MAX_RESIZE_WIDTH,
    ImageRejected,
    normalise_avatar,
    resized_image,
    shrunk_jpeg,
)

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def encode(im: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    im.save(out, fmt, **params)
    return out.getvalue()


def reopen(data: bytes) -> ImageFile.ImageFile:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def px(im: Image.Image, xy: tuple[int, int]) -> tuple[int, ...]:
    pixel = im.getpixel(xy)
    assert isinstance(pixel, tuple), pixel
    return pixel


def near(pixel: tuple[int, ...], colour: tuple[int, int, int], slack: int = 40) -> bool:
    return all(abs(a - b) <= slack for a, b in zip(pixel[:3], colour, strict=True))


def png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def png_claiming(width: int, height: int) -> bytes:
    """A valid-looking PNG whose IHDR claims width×height but which holds a few bytes of data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + png_chunk(b"IEND", b"")
    )


def banded(
    width: int, height: int, sides: tuple[int, int, int], middle: tuple[int, int, int]
) -> Image.Image:
    """Side bands of one colour around a centred square of another."""
    im = Image.new("RGB", (width, height), sides)
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    im.paste(middle, (left, top, left + side, top + side))
    return im


def assert_no_metadata(data: bytes) -> None:
    im = reopen(data)
    for key in ("exif", "xmp", "XML:com.adobe.xmp", "icc_profile", "comment", "dpi"):
        assert key not in im.info, key
    assert dict(im.getexif()) == {}
    assert b"Exif" not in data and b"GPS" not in data


# -- avatars ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_avatar_is_centre_square_of_output_type(fmt: str) -> None:
    out = normalise_avatar(encode(banded(600, 300, BLUE, GREEN), fmt))
    im = reopen(out)
    assert im.get_format_mimetype() == AVATAR_CONTENT_TYPE
    assert im.size == (256, 256)
    for xy in ((3, 3), (252, 3), (3, 252), (252, 252), (128, 128)):
        assert near(px(im, xy), GREEN), (xy, px(im, xy))  # the blue sides are gone


def test_small_avatar_is_scaled_up_and_transparency_kept() -> None:
    im = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    im.paste((255, 0, 0, 255), (0, 0, 10, 5))
    out = reopen(normalise_avatar(encode(im, "PNG"), size=64))
    assert out.size == (64, 64) and out.mode == "RGBA"
    assert near(px(out, (32, 8)), RED) and px(out, (32, 8))[3] > 200
    assert px(out, (32, 56))[3] < 30


def phone_photo() -> bytes:
    """A 200×400 JPEG, red on top, tagged "rotate 90° clockwise", with GPS, ICC and a comment."""
    tall = Image.new("RGB", (200, 400), BLUE)
    tall.paste(RED, (0, 0, 200, 200))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # shown 400×200: the red half goes to the right
    exif[ExifTags.Base.Make] = "PhoneCo"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (51.0, 30.0, 12.0)
    data = encode(tall, "JPEG", exif=exif, comment=b"home sweet home", icc_profile=b"not-an-icc")
    source = reopen(data)  # the input really carries what must be removed
    assert source.getexif()[ExifTags.Base.Orientation] == 6
    assert source.getexif().get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitudeRef] == "N"
    assert "comment" in source.info and "icc_profile" in source.info
    return data


def assert_no_phone_metadata(data: bytes) -> None:
    assert_no_metadata(data)
    assert b"PhoneCo" not in data and b"home sweet" not in data and b"not-an-icc" not in data


def test_exif_orientation_applied_and_metadata_stripped() -> None:
    out = normalise_avatar(phone_photo())
    im = reopen(out)
    assert im.size == (256, 256)
    assert near(px(im, (30, 200)), BLUE) and near(px(im, (225, 200)), RED)
    assert_no_phone_metadata(out)


@pytest.mark.parametrize(
    "data",
    [
        b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>',
        b'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg"></svg>',
        b"\xef\xbb\xbf  \n\t<svg/>",
        "\ufeff<?xml version='1.0'?><svg/>".encode("utf-16-le"),
        b"<!DOCTYPE html><html><body>hi</body></html>",
        b"hello there <svg onload='x()'/>",
    ],
    ids=["svg", "xml-svg", "bom-space-svg", "utf16-svg", "html", "text-with-svg"],
)
def test_markup_refused(data: bytes) -> None:
    with pytest.raises(ImageRejected, match="SVG"):
        normalise_avatar(data)


def test_header_claiming_65535_squared_refused_without_decoding() -> None:
    data = png_claiming(65535, 65535)
    assert len(data) < 100
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(ImageRejected, match="megapixels") as caught:
            normalise_avatar(data)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "the limit is 16 megapixels" in str(caught.value)
    assert "4294.8 megapixels" in str(caught.value)  # 65535² as Pillow's own check saw it
    assert elapsed < 1.0
    assert peak < 3 * 1024 * 1024
    # Pillow's pixel buffers are malloc'd outside tracemalloc's view, so watch the process too:
    # decoding would need ~12 GB.  ru_maxrss is in KiB on Linux.
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before < 100 * 1024


def test_header_over_our_limit_refused_before_decoding() -> None:
    data = png_claiming(5000, 5000)  # 25 MP: under Pillow's own limit, over ours
    started = time.perf_counter()
    with pytest.raises(ImageRejected) as caught:
        normalise_avatar(data)
    assert time.perf_counter() - started < 1.0
    assert str(caught.value) == "the picture is 5000×5000 pixels; the limit is 16 megapixels"
    # The same file with room to spare does get decoded, and fails differently (its data
    # is missing): so the refusal above came from the header alone.
    with pytest.raises(ImageRejected, match="damaged or incomplete"):
        normalise_avatar(png_claiming(300, 300))


def test_pillow_bomb_warning_becomes_rejection() -> None:
    data = png_claiming(10_000, 10_000)  # 100 MP: Pillow warns (above 89 MP) inside open()
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with pytest.raises(ImageRejected, match="100 megapixels; the limit is 200 megapixels"):
            normalise_avatar(data, max_pixels=200_000_000)


@pytest.mark.parametrize("claimed", [(0, 10), (10, 0)])
def test_zero_sided_header_refused(claimed: tuple[int, int]) -> None:
    with pytest.raises(ImageRejected):
        normalise_avatar(png_claiming(*claimed))


def test_empty_and_oversized_input_refused_before_parsing() -> None:
    with pytest.raises(ImageRejected, match="empty"):
        normalise_avatar(b"")
    junk = b"\xff" * (5 * 1024 * 1024 + 1)  # not a picture: parsing it would say so instead
    with pytest.raises(ImageRejected, match="the file is 5 MB; the limit is 5 MB"):
        normalise_avatar(junk)
    good = encode(Image.new("RGB", (50, 50), RED), "PNG")
    assert normalise_avatar(good, max_bytes=len(good))
    with pytest.raises(ImageRejected, match="the limit is"):
        normalise_avatar(good, max_bytes=len(good) - 1)


def noise(width: int, height: int) -> Image.Image:
    return Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP"])
def test_truncated_picture_refused(fmt: str) -> None:
    data = encode(noise(400, 300), fmt)
    with pytest.raises(ImageRejected):
        normalise_avatar(data[: len(data) // 2])


@pytest.mark.parametrize(
    "data",
    [b"\xff\xd8\xff" + b"\x00" * 64, b"\x89PNG\r\n\x1a\n" + b"junk" * 8, b"GIF89a\x01"],
    ids=["jpeg-soi-junk", "png-sig-junk", "gif-stub"],
)
def test_corrupt_header_refused(data: bytes) -> None:
    with pytest.raises(ImageRejected):
        normalise_avatar(data)


@pytest.mark.parametrize("where", ["before-pixels", "after-pixels"])
def test_png_text_chunk_bomb_refused(where: str) -> None:
    """20 KB of zTXt inflating to 20 MB: Pillow raises ValueError, at open or at load."""
    png = encode(Image.new("RGB", (64, 64), RED), "PNG")
    bomb = png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"A" * (20 * 1024 * 1024)))
    at = 33 if where == "before-pixels" else png.rindex(b"IEND") - 4  # after IHDR / before IEND
    data = png[:at] + bomb + png[at:]
    assert len(data) < 64 * 1024
    with pytest.raises(ImageRejected) as caught:
        normalise_avatar(data)
    assert isinstance(caught.value.__cause__, ValueError)


def test_damaged_pictures_only_ever_raise_image_rejected() -> None:
    """Random byte changes to real pictures: each result is a good avatar or ImageRejected."""
    rnd = random.Random(20240601)
    pictures = [encode(noise(64, 48), fmt) for fmt in ("JPEG", "PNG", "GIF", "WEBP")]
    outcomes = {"ok": 0, "rejected": 0}
    for _ in range(400):
        data = bytearray(rnd.choice(pictures))
        for _ in range(rnd.randint(1, 8)):
            data[rnd.randrange(len(data))] = rnd.randrange(256)
        try:
            out = normalise_avatar(bytes(data))
        except ImageRejected:
            outcomes["rejected"] += 1
        else:
            assert reopen(out).size == (256, 256)
            outcomes["ok"] += 1
    assert outcomes["ok"] > 0 and outcomes["rejected"] > 0, outcomes


@pytest.mark.parametrize("fmt", ["BMP", "TIFF", "ICO", "PPM"])
def test_other_formats_refused(fmt: str) -> None:
    data = encode(Image.new("RGB", (64, 64), RED), fmt)
    reopen(data)  # Pillow itself reads it fine
    with pytest.raises(ImageRejected, match="not a JPEG, PNG, WebP or GIF"):
        normalise_avatar(data)


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP"])
def test_animation_gives_first_frame(fmt: str) -> None:
    frames = [Image.new("RGB", (100, 100), colour) for colour in (RED, GREEN, BLUE)]
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100)
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 3
    out = reopen(normalise_avatar(data))
    assert getattr(out, "n_frames", 1) == 1
    assert near(px(out, (128, 128)), RED)


def test_multi_picture_jpeg_accepted() -> None:
    """Cameras write MPO (JPEG plus extra pictures); Pillow reports format "MPO", not "JPEG"."""
    frames = [Image.new("RGB", (120, 80), GREEN), Image.new("RGB", (120, 80), BLUE)]
    data = encode(frames[0], "MPO", save_all=True, append_images=frames[1:])
    assert Image.open(io.BytesIO(data)).format == "MPO"
    assert near(px(reopen(normalise_avatar(data)), (128, 128)), GREEN)


# -- resized posters -------------------------------------------------------------------------


def write(path: Path, im: Image.Image, fmt: str, **params: object) -> Path:
    path.write_bytes(encode(im, fmt, **params))
    return path


def test_resize_scales_down_keeping_aspect(tmp_path: Path) -> None:
    source = write(tmp_path / "poster.png", banded(1000, 1500, RED, BLUE), "PNG")
    cache = tmp_path / "cache"
    result = resized_image(source, 300, cache)
    assert result.parent == cache and result != source
    im = reopen(result.read_bytes())
    assert im.format == "JPEG" and im.size == (300, 450)
    assert near(px(im, (150, 5)), RED) and near(px(im, (150, 225)), BLUE)
    assert_no_metadata(result.read_bytes())
    assert [p.name for p in cache.iterdir()] == [result.name]  # no temp files left


def test_resize_caches_without_decoding_again(tmp_path: Path) -> None:
    source = write(tmp_path / "poster.jpg", noise(800, 1200), "JPEG")
    cache = tmp_path / "cache"
    first = resized_image(source, 200, cache)
    before = first.stat()
    # Same size and mtime, garbage inside: only a cache hit can still succeed.
    st = source.stat()
    source.write_bytes(b"\x00" * st.st_size)
    os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns))
    second = resized_image(source, 200, cache)
    assert second == first
    after = second.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    with pytest.raises(ImageRejected):
        resized_image(source, 100, cache)  # not cached: decoding the garbage fails


def test_changed_source_gets_new_cached_file(tmp_path: Path) -> None:
    source = write(tmp_path / "poster.png", Image.new("RGB", (600, 900), RED), "PNG")
    cache = tmp_path / "cache"
    first = resized_image(source, 300, cache)
    st = source.stat()
    write(source, Image.new("RGB", (600, 900), GREEN), "PNG")
    os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    second = resized_image(source, 300, cache)
    assert second != first and first.exists()
    assert near(px(reopen(second.read_bytes()), (10, 10)), GREEN)
    assert near(px(reopen(first.read_bytes()), (10, 10)), RED)


@pytest.mark.parametrize("width", [200, 300, MAX_RESIZE_WIDTH])
def test_resize_never_upscales(tmp_path: Path, width: int) -> None:
    source = write(tmp_path / "small.jpg", Image.new("RGB", (200, 300), RED), "JPEG")
    cache = tmp_path / "cache"
    assert resized_image(source, width, cache) == source
    assert not cache.exists() or not any(cache.iterdir())


@pytest.mark.parametrize("width", [0, -5, 5000, MAX_RESIZE_WIDTH + 1, 2.5, True])
def test_resize_rejects_bad_width(tmp_path: Path, width: object) -> None:
    source = write(tmp_path / "poster.jpg", Image.new("RGB", (600, 900), RED), "JPEG")
    with pytest.raises(ValueError, match="width must be") as caught:
        resized_image(source, width, tmp_path / "cache")  # type: ignore[arg-type]
    assert not isinstance(caught.value, ImageRejected)
    assert not (tmp_path / "cache").exists()


def test_resize_header_limit(tmp_path: Path) -> None:
    source = tmp_path / "huge.png"
    source.write_bytes(png_claiming(10_000, 6_000))
    with pytest.raises(ImageRejected, match="10000×6000 pixels; the limit is 50 megapixels"):
        resized_image(source, 300, tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


def test_resize_judges_upscaling_by_shown_width(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # stored 900×600, shown 600×900
    source = write(tmp_path / "rot.jpg", Image.new("RGB", (900, 600), RED), "JPEG", exif=exif)
    im = reopen(resized_image(source, 300, tmp_path / "cache").read_bytes())
    assert im.size == (300, 450)
    assert dict(im.getexif()) == {}
    # shown width 600: asking for 700 would be an upscale even though the stored width is 900
    assert resized_image(source, 700, tmp_path / "cache") == source


def test_resize_applies_orientation_and_strips_metadata(tmp_path: Path) -> None:
    source = tmp_path / "photo.jpg"
    source.write_bytes(phone_photo())
    result = resized_image(source, 100, tmp_path / "cache")
    im = reopen(result.read_bytes())
    assert im.size == (100, 50)
    assert near(px(im, (10, 25)), BLUE) and near(px(im, (90, 25)), RED)
    assert_no_phone_metadata(result.read_bytes())


def test_resize_flattens_transparency_onto_black(tmp_path: Path) -> None:
    source = write(tmp_path / "logo.png", Image.new("RGBA", (800, 400), (255, 0, 0, 128)), "PNG")
    im = reopen(resized_image(source, 400, tmp_path / "cache").read_bytes())
    # half-transparent red over black, not the alpha simply dropped (which gives pure red)
    assert im.mode == "RGB" and near(px(im, (200, 100)), (128, 0, 0), slack=12)


def test_resize_concurrent_callers_agree(tmp_path: Path) -> None:
    source = write(tmp_path / "poster.jpg", noise(1200, 1800), "JPEG")
    cache = tmp_path / "cache"
    results: list[Path] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(resized_image(source, 240, cache))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(set(results)) == 1 and len(results) == 8
    assert reopen(results[0].read_bytes()).size == (240, 360)
    assert [p.name for p in cache.iterdir()] == [results[0].name]


# --- downloads kept small (the cast's photos) ------------------------------------------------


def test_a_download_is_kept_upright_small_and_without_metadata() -> None:
    out = shrunk_jpeg(phone_photo(), 100)
    im = reopen(out)
    assert im.format == "JPEG" and im.size == (100, 50)
    assert near(px(im, (10, 25)), BLUE) and near(px(im, (90, 25)), RED)
    assert_no_phone_metadata(out)


def test_a_narrow_download_keeps_its_size_as_a_plain_jpeg() -> None:
    im = reopen(shrunk_jpeg(encode(Image.new("RGBA", (40, 60), (255, 0, 0, 255)), "PNG"), 400))
    assert im.format == "JPEG" and im.size == (40, 60) and near(px(im, (20, 30)), RED)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'<svg xmlns="http://www.w3.org/2000/svg"/>', "not a JPEG, PNG, WebP or GIF"),
        (png_claiming(65535, 65535), "the limit is 50 megapixels"),
        (b"", "empty"),
        (b"\xff\xd8\xff" + bytes(11 * 1024 * 1024), "the limit is 10 MB"),
    ],
    ids=["svg", "bomb", "empty", "oversized"],
)
def test_a_download_that_is_no_usable_picture_is_refused(data: bytes, reason: str) -> None:
    with pytest.raises(ImageRejected, match=reason):
        shrunk_jpeg(data, 400)
