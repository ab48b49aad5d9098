"""The pooled HTTP session closes with its event loop, even if the app never closes it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import asyncio, gc, warnings
    warnings.simplefilter("default")
    from pipecat.frames.frames import EndFrame
    from bwserial import BandwidthFrameSerializer
    from bwserial.testing.fake_voice_api import FakeVoiceAPI

    async def main():
        async with FakeVoiceAPI(client_id="cid", client_secret="s3cret") as api:
            serializer = BandwidthFrameSerializer(
                "s", call_id="c-1", account_id="9900000", client_id="cid", client_secret="s3cret",
                params=BandwidthFrameSerializer.InputParams(
                    oauth_token_url=api.token_url, voice_api_base_url=api.voice_api_base_url
                ),
            )
            await serializer.serialize(EndFrame())
            assert len(api.hangups) == 1
        # no close_sessions(): the loop's shutdown must close the pooled session

    asyncio.run(main())
    gc.collect()
    print("done")
    """
)


def test_no_unclosed_session_warning_when_the_loop_ends() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "done" in result.stdout
    assert "Unclosed" not in result.stderr
    assert "s3cret" not in result.stderr + result.stdout
