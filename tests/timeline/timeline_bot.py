"""A scripted bot on 127.0.0.1 that does known things at known points of the call.

The bot reacts to the caller's ``sequenceNumber`` (frame n carries call time
``(n - 1) * 20 ms`` to ``n * 20 ms`` and is sent at ``n * 20 ms``), so the call time of
each of its actions is known in advance and the timeline's markers can be checked
against it. Its hang-up goes over real HTTP to the fake Voice API.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import aiohttp
import numpy as np
from aiohttp import WSMsgType, web

from bwserial.testing.fake_voice_api import FakeVoiceAPI

CLIENT_ID = "timeline-id"
CLIENT_SECRET = "timeline-secret"
ACCOUNT_ID = "9900000"


def tone_pcm_message(seconds: float, freq: float = 500.0) -> str:
    """A playAudio of ``seconds`` of 8 kHz PCM (linear, so the message stays exact)."""
    t = np.arange(round(seconds * 8000)) / 8000
    pcm = np.round(0.3 * 32767 * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes()
    ct = "audio/pcm;rate=8000;channels=1;bit-depth=16;endian=little;encoding=signed"
    payload = base64.b64encode(pcm).decode()
    return json.dumps({"eventType": "playAudio", "media": {"contentType": ct, "payload": payload}})


@dataclass(frozen=True)
class Plan:
    """What the bot sends when the caller's frame with this sequence number arrives."""

    speak_at_seq: int
    speak_secs: float
    clear_at_seq: int
    malformed_at_seq: int
    hangup_at_seq: int


@contextlib.asynccontextmanager
async def scripted_bot(plan: Plan, api: FakeVoiceAPI, call_id: str) -> AsyncIterator[str]:
    """Serve the bot on a free port; yields its WebSocket URL."""
    async with aiohttp.ClientSession() as http:

        async def token() -> str:
            async with http.post(
                api.token_url,
                data={"grant_type": "client_credentials"},
                headers={
                    "Authorization": "Basic "
                    + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
                },
            ) as response:
                body: Mapping[str, str] = await response.json()
                return body["access_token"]

        async def handler(request: web.Request) -> web.StreamResponse:
            bearer = await token()  # fetched up front: the hang-up is one request
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    break
                event = json.loads(msg.data)
                if event.get("eventType") != "media":
                    continue
                seq = int(event.get("sequenceNumber", 0))
                if seq == plan.speak_at_seq:
                    await ws.send_str(tone_pcm_message(plan.speak_secs))
                elif seq == plan.clear_at_seq:
                    await ws.send_str(json.dumps({"eventType": "clear"}))
                elif seq == plan.malformed_at_seq:
                    await ws.send_str("{not json")
                elif seq == plan.hangup_at_seq:
                    async with http.post(
                        api.call_url(ACCOUNT_ID, call_id),
                        json={"state": "completed"},
                        headers={"Authorization": f"Bearer {bearer}"},
                    ) as response:
                        await response.read()
            return ws

        app = web.Application()
        app.router.add_get("/ws", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            yield f"ws://127.0.0.1:{runner.addresses[0][1]}/ws"
        finally:
            await runner.cleanup()
