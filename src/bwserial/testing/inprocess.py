"""Bandwidth's side of one media stream, delivered straight to a serializer: no socket.

Unit tests of a serializer configuration or of a plugin want the real ``deserialize``
code path with live-shaped messages (``start``, 20 ms PCMU ``media`` frames with string
sequence numbers, ``stop``), but no server, no pipeline and no clock. This is the
in-process twin of :func:`~bwserial.testing.simulator.simulate_call`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from bwserial.testing import messages
from bwserial.testing.simulator import FRAME_BYTES, SILENCE, CallScript, Segment, _build_timeline

if TYPE_CHECKING:
    from bwserial.serializer import BandwidthFrameSerializer

__all__ = ["SerializerCall"]


class SerializerCall:
    """One simulated stream into ``serializer``; every frame it returned is in ``frames``.

    ``call_id``/``account_id`` are what the unauthenticated ``start`` message claims (by
    default the serializer's trusted call id, so no mismatch warning is raised).
    """

    def __init__(
        self,
        serializer: BandwidthFrameSerializer,
        *,
        call_id: str | None = None,
        account_id: str = "9900000",
        stream_params: Mapping[str, str] | None = None,
    ) -> None:
        self.serializer = serializer
        self.call_id = call_id if call_id is not None else serializer.call_id or "c-sim"
        self.account_id = account_id
        self.stream_params = dict(stream_params) if stream_params is not None else None
        self.frames: list[Any] = []
        """What ``deserialize`` returned, in order, ``None`` results left out."""
        self.frames_sent = 0
        self._sequence = 0

    async def send(self, text: str) -> Any:
        """Deliver one raw text message (for malformed input); return the frame, if any."""
        frame = await self.serializer.deserialize(text)
        if frame is not None:
            self.frames.append(frame)
        return frame

    async def start(self) -> Any:
        """Send ``start`` for the serializer's stream id."""
        return await self.send(
            messages.start(
                stream_id=self.serializer.stream_id,
                call_id=self.call_id,
                account_id=self.account_id,
                params=self.stream_params,
            )
        )

    async def speak(self, script: CallScript | Iterable[Segment]) -> int:
        """Send the script as 20 ms media frames, numbered on from the last; return the count."""
        if not isinstance(script, CallScript):
            script = CallScript(tuple(script))
        pcmu, _turns, _faults = _build_timeline(script)
        count = 0
        for offset in range(0, len(pcmu), FRAME_BYTES):
            self._sequence += 1
            frame = pcmu[offset : offset + FRAME_BYTES].ljust(FRAME_BYTES, SILENCE)
            await self.send(messages.media(frame, seq=self._sequence))
            count += 1
        self.frames_sent += count
        return count

    async def stop(self) -> Any:
        """Send ``stop``, as Bandwidth does when the stream ends."""
        return await self.send(messages.stop(self.serializer.stream_id, self.call_id))

    async def play(self, script: CallScript | Iterable[Segment]) -> list[Any]:
        """``start``, the whole script, ``stop``; return every frame the serializer produced."""
        await self.start()
        await self.speak(script)
        await self.stop()
        return list(self.frames)

    @property
    def audio(self) -> bytes:
        """The caller audio the pipeline received: every audio frame's bytes, concatenated."""
        return b"".join(getattr(frame, "audio", b"") for frame in self.frames)
