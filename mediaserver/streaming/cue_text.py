"""Subtitle cue text between formats: SubRip to WebVTT, WebVTT to SubRip, and the finishing
touches on ffmpeg's WebVTT.

SubRip is turned into WebVTT here rather than by ffmpeg's decoder: that decoder drops
anything in angle brackets it does not know as a tag, so ``<Bob> hello`` came out as
``hello``.  ffmpeg still parses the file (it is lenient with stray spaces, odd times and
missing blank lines) and writes it back as plain SubRip (``-c:s copy``); this module renders
each cue's text.  What WebVTT can show as a tag (``b``, ``i``, ``u``, ``c``, ``v``,
``lang``, ``ruby``, ``rt``) stays a tag; SubRip's ``<font>`` and ``<s>`` and ASS overrides
(``{\\an8}``) go, keeping their text; ``<br>`` is a line break; every other ``<`` is text.
"""

from __future__ import annotations

import html
import re

__all__ = ["finish_webvtt", "srt_from_webvtt", "webvtt_from_srt", "without_style_blocks"]

# After ffmpeg's encoder only <b>, <i>, <u> are tags; any other "<" or a bare "&" is text.
_BARE_LT = re.compile(r"<(?!/?[biu]>)")
_BARE_AMP = re.compile(r"&(?!(?:[A-Za-z][A-Za-z0-9]*|#[0-9]+|#[xX][0-9A-Fa-f]+);)")
_VTT_TIME = re.compile(r"^(?:(\d+):)?(\d{2}):(\d{2})\.(\d{3})$")
_TAGS = re.compile(r"</?(?:c|v|lang|ruby|rt)(?:[.\s][^>]*)?>|<\d+:\d{2}[:.][\d:.]*>")
_SRT_TIMING = re.compile(r"(\d+):(\d{2}):(\d{2}),(\d{3})\s*-->\s*(\d+):(\d{2}):(\d{2}),(\d{3})")
# A tag (name, .classes, annotation) or an ASS override block.
_MARKUP = re.compile(r"<(/?)([A-Za-z]+)((?:\.[\w-]+)*)([ \t][^<>]*)?/?>|\{\\[^{}]*\}")
_WEBVTT_TAGS = frozenset({"b", "i", "u", "c", "ruby", "rt"})
_ANNOTATED = frozenset({"v", "lang"})  # a start tag names a voice or a language
_DROPPED = frozenset({"font", "s"})  # SubRip formatting WebVTT has no tag for


def webvtt_from_srt(srt: str) -> str:
    """WebVTT of SubRip as ffmpeg writes it (numbered cues, ``00:00:01,000 --> ...``)."""
    cues: list[str] = []
    for block in re.split(r"\n[ \t]*\n", srt.lstrip("\ufeff").replace("\r\n", "\n")):
        lines = block.strip("\n").split("\n")
        timing = next((n for n, ln in enumerate(lines) if _SRT_TIMING.search(ln)), None)
        if timing is None:
            continue
        times = _SRT_TIMING.search(lines[timing])
        assert times is not None
        numbers = [int(g) for g in times.groups()]
        text = "\n".join(lines[timing + 1 :])
        rendered = [ln.strip() for ln in _cue_text(text).split("\n")]
        rendered = [ln for ln in rendered if ln]
        if rendered:
            cue_times = f"{_vtt_time(*numbers[:4])} --> {_vtt_time(*numbers[4:])}"
            cues.append(cue_times + "\n" + "\n".join(rendered))
    return "WEBVTT\n\n" + "".join(cue + "\n\n" for cue in cues)


def _vtt_time(hours: int, minutes: int, seconds: int, millis: int) -> str:
    clock = f"{minutes:02d}:{seconds:02d}.{millis:03d}"  # ffmpeg's short form, without hours
    return f"{hours:02d}:{clock}" if hours else clock


def _cue_text(text: str) -> str:
    out: list[str] = []
    done = 0
    for match in _MARKUP.finditer(text):
        out.append(_escape_text(text[done : match.start()]))
        out.append(_tag(match))
        done = match.end()
    out.append(_escape_text(text[done:]))
    return "".join(out)


def _tag(match: re.Match[str]) -> str:
    if match[2] is None:
        return ""  # {\an8}, {\i1}: ASS overrides have no WebVTT form here
    closing, name, classes, annotation = match[1], match[2].lower(), match[3], match[4]
    if name == "br" and not closing:
        return "\n"
    if name in _DROPPED:
        return ""
    if name in _WEBVTT_TAGS and not annotation:
        return f"<{closing}{name}{classes}>"
    if name in _ANNOTATED and bool(annotation) != bool(closing):
        words = _escape_text(annotation.strip()) if annotation else ""
        return f"<{closing}{name}{classes}{' ' + words if words else ''}>"
    return _escape_text(match[0])  # <Bob>, <unknown tag>: words in brackets


def _escape_text(text: str) -> str:
    return _BARE_AMP.sub("&amp;", text).replace("<", "&lt;").replace(">", "&gt;")


def srt_from_webvtt(vtt: str) -> str:
    """SubRip for TVs that take subtitle files (Samsung, LG): the cues of one of our WebVTT
    files, renumbered, with comma decimals, no cue settings, and ``<b>/<i>/<u>`` kept."""
    blocks = re.split(r"\n[ \t]*\n", vtt.lstrip("\ufeff").replace("\r\n", "\n"))
    cues: list[str] = []
    for block in blocks:
        lines = block.strip("\n").split("\n")
        timing = next((n for n, ln in enumerate(lines) if "-->" in ln), None)
        if timing is None:
            continue  # the header, NOTE and STYLE blocks
        start, _, rest = lines[timing].partition("-->")
        end = rest.strip().split()[0] if rest.strip() else ""
        times = [_srt_time(start.strip()), _srt_time(end)]
        text = [html.unescape(_TAGS.sub("", ln)) for ln in lines[timing + 1 :]]
        if None in times or not any(t.strip() for t in text):
            continue
        cues.append(f"{len(cues) + 1}\n{times[0]} --> {times[1]}\n" + "\n".join(text))
    return "\n\n".join(cues) + "\n" if cues else ""


def _srt_time(text: str) -> str | None:
    match = _VTT_TIME.match(text)
    if match is None:
        return None
    hours, minutes, seconds, millis = (int(g or 0) for g in match.groups())
    return f"{hours:02d}:{minutes:02d}:{seconds:02d},{millis:03d}"


def without_style_blocks(vtt: str) -> str:
    """Drop STYLE and REGION blocks, which make ffmpeg's webvtt demuxer stop reading."""
    blocks = re.split(r"\n[ \t]*\n", vtt.replace("\r\n", "\n").replace("\r", "\n"))
    kept = [b for b in blocks if not re.match(r"(STYLE|REGION)[ \t]*(\n|$)", b.lstrip("\n"))]
    return "\n\n".join(kept)


def finish_webvtt(vtt: str, mpegts_offset: int, *, escape: bool) -> str:
    """WebVTT with our ``X-TIMESTAMP-MAP`` header and, with ``escape`` (ffmpeg's encoder
    wrote the cues), bare ``<`` and ``&`` escaped in cue text."""
    header, _, body = vtt.lstrip("\ufeff").replace("\r\n", "\n").partition("\n\n")
    lines = header.rstrip("\n").split("\n")
    lines = [lines[0], *(ln for ln in lines[1:] if not ln.startswith("X-TIMESTAMP-MAP"))]
    lines.insert(1, f"X-TIMESTAMP-MAP=MPEGTS:{mpegts_offset},LOCAL:00:00:00.000")
    if escape:
        body = "\n\n".join(_escape_cue(block) for block in body.split("\n\n"))
    return "\n".join(lines) + "\n\n" + body.lstrip("\n")


def _escape_cue(block: str) -> str:
    lines = block.split("\n")
    timing = next((n for n, ln in enumerate(lines) if "-->" in ln), None)
    if timing is None:
        return block
    payload = [_BARE_AMP.sub("&amp;", _BARE_LT.sub("&lt;", ln)) for ln in lines[timing + 1 :]]
    return "\n".join(lines[: timing + 1] + payload)
