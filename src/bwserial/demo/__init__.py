"""A reference Bandwidth voice bot on Pipecat, and the pieces to call it without a phone.

Read it in this order: :mod:`.app` (webhook and WebSocket), :mod:`.tokens` (how the
trusted call identity reaches the WebSocket), :mod:`.session` (serializer, transport and
pipeline for one call), :mod:`.bot` (turn-taking and barge-in). ``bwserial demo`` runs it
against the fake Voice API and the media-stream simulator (:mod:`.run`).

Needs the ``demo`` extra (FastAPI, uvicorn, Silero VAD, bandwidth-sdk). Importing this
package imports none of them; the submodules do.
"""
