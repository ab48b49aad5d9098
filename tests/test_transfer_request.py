"""The typed transfer request refuses bad targets where it is built, not at the Voice API."""

from __future__ import annotations

import pytest
from pipecat.frames.frames import EndFrame

from bwserial import TransferFallback, TransferFrame, TransferRequest


@pytest.mark.parametrize(
    "target",
    ["+15551234567", "+442071838750", "sip:agent@pbx.example.com", "sips:desk@10.0.0.7:5061"],
)
def test_e164_numbers_and_sip_uris_are_accepted(target: str) -> None:
    assert TransferRequest(to=(target,)).to == (target,)


@pytest.mark.parametrize(
    "target",
    [
        "5551234567",  # no +
        "+0123",  # no country code starts with 0
        "+1234567890123456",  # 16 digits
        "tel:+15551234567",
        "sip:agent@pbx.example.com;transport=tcp\r\nX-Evil: 1",
        "sip:<agent@pbx>",
        "",
        42,
    ],
)
def test_anything_else_is_a_clear_value_error(target: object) -> None:
    with pytest.raises(ValueError, match=r"E\.164 number .* or a SIP URI"):
        TransferRequest(to=(target,))  # type: ignore[arg-type]


def test_one_string_is_one_target_and_limits_hold() -> None:
    assert TransferRequest(to="+15551234567").to == ("+15551234567",)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one"):
        TransferRequest(to=())
    with pytest.raises(ValueError, match="at most 8"):
        TransferRequest(to=tuple(f"+1555123456{i}" for i in range(10)))
    with pytest.raises(ValueError, match="caller_id"):
        TransferRequest(to=("+15551234567",), caller_id="anonymous")
    with pytest.raises(ValueError, match="timeout_secs"):
        TransferRequest(to=("+15551234567",), timeout_secs=float("inf"))
    assert TransferRequest(to=("+15551234567",), fallback="leave").fallback is (  # type: ignore[arg-type]
        TransferFallback.LEAVE
    )


def test_the_frame_is_an_end_frame_so_stock_transports_deliver_it() -> None:
    frame = TransferFrame.to("+15551234567", caller_id="+15550000000", timeout_secs=20)
    assert isinstance(frame, EndFrame)
    assert frame.transfer == TransferRequest(("+15551234567",), "+15550000000", 20)
    with pytest.raises(TypeError, match="TransferRequest"):
        TransferFrame()
