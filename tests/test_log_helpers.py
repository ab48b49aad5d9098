"""The shared log rules: escaping wire strings and rate-limiting repeats."""

from __future__ import annotations

from bwserial._log import RateLimiter, escape


def test_escape_cannot_start_a_new_log_line() -> None:
    forged = "stream\nERROR forged log line\r\x1b[31mred"
    out = escape(forged, limit=200)
    assert "\n" not in out and "\r" not in out and "\x1b" not in out
    assert "forged log line" in out


def test_escape_cuts_long_values() -> None:
    out = escape("x" * 500, limit=10)
    assert out == repr("x" * 10) + "..."


def test_rate_limiter_writes_first_then_counts_what_it_held_back() -> None:
    now = [0.0]
    limiter = RateLimiter(interval=10.0, clock=lambda: now[0])
    assert limiter.allow("k") == 0
    assert [limiter.allow("k") for _ in range(5)] == [None] * 5
    assert limiter.allow("other") == 0  # keys are independent
    now[0] = 10.0
    assert limiter.allow("k") == 5
    assert limiter.allow("k") is None
    assert RateLimiter.suffix(5) == " (5 more since the last one)"
    assert RateLimiter.suffix(0) == ""


def test_rate_limiter_key_space_is_bounded() -> None:
    limiter = RateLimiter()
    for i in range(5000):
        limiter.allow(i)
    assert len(limiter._state) <= 1024


def test_redact_url_removes_credentials_wherever_they_sit() -> None:
    from bwserial._log import redact_url

    assert redact_url("wss://user:pa55@bot.example.com/ws") == "wss://<redacted>@bot.example.com/ws"
    assert redact_url("ws://127.0.0.1:8765/ws?token=abc&lang=en") == (
        "ws://127.0.0.1:8765/ws?token=<redacted>&lang=en"
    )
    assert redact_url("wss://h/ws/eyJhbGciOiJIUzI1NiJ9.e30.sig") == "wss://h/ws/<redacted>"
    assert redact_url("wss://h/ws/Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5") == "wss://h/ws/<redacted>"
    assert redact_url("wss://h/ws/calls/c-1/media") == "wss://h/ws/calls/c-1/media"  # no token
    assert redact_url("wss://h/ws?x=aVeryLongOpaqueValue0123456789") == "wss://h/ws?x=<redacted>"
    assert redact_url("wss://[::1/ws/secret") == "<redacted>"  # unparseable: all of it


async def test_no_wire_string_forges_a_log_line_in_the_serializer(logs) -> None:  # type: ignore[no-untyped-def]
    """Issue 12 item 9: the stopped-stream DEBUG line wrote a streamId from the wire raw."""
    import json

    from bwserial import BandwidthFrameSerializer
    from bwserial.testing.messages import start, stop

    forged = "stream\nERROR forged log line\r\x1b[31m"
    serializer = BandwidthFrameSerializer(
        forged, params=BandwidthFrameSerializer.InputParams(auto_hang_up=False)
    )
    await serializer.deserialize(start(stream_id=forged, call_id="c\n1"))
    await serializer.deserialize(json.dumps({"eventType": "x\nERROR forged"}))
    await serializer.deserialize("{bad\nERROR forged")
    await serializer.deserialize(stop(stream_id=forged))
    assert logs.records, "nothing was logged: the test would prove nothing"
    for _, text in logs.records:
        assert "\n" not in text and "\r" not in text and "\x1b" not in text, text
    assert any("Bandwidth stream stopped" in text for _, text in logs.records)
