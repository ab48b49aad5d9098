"""Checks on a written timeline page: self-contained, and its embedded audio is real."""

from __future__ import annotations

import base64
import re
import struct

_ATTR = re.compile(r"""\b(?:src|href|action|poster|data)\s*=\s*["']?([^"'\s>]+)""", re.I)
_DATA_URI = re.compile(r"data:audio/wav;base64,([A-Za-z0-9+/=]+)")


def outside_references(page: str) -> list[str]:
    """Everything the page would fetch or link to that is not inside the page itself."""
    found = [v for v in _ATTR.findall(page) if not v.startswith("data:")]
    found += re.findall(r"(?:https?:|wss?:|ftp:)//[^\s\"'<>)]+", page)
    found += re.findall(r"url\(\s*['\"]?(?!data:)[^)]*\)", page)
    found += re.findall(r"@import|<link\b|<iframe\b|<object\b|<embed\b", page, re.I)
    found += re.findall(r"\bfetch\(|XMLHttpRequest|new\s+WebSocket|importScripts", page)
    return found


def embedded_wavs(page: str) -> list[tuple[int, int, int]]:
    """(format tag, sample rate, samples) of every WAV embedded in the page."""
    wavs = []
    for data in _DATA_URI.findall(page):
        blob = base64.b64decode(data)
        assert blob[:4] == b"RIFF" and blob[8:12] == b"WAVE"
        tag, _channels, rate = struct.unpack_from("<HHI", blob, 20)
        size = struct.unpack_from("<I", blob, blob.index(b"data") + 4)[0]
        wavs.append((tag, rate, size))
    return wavs
