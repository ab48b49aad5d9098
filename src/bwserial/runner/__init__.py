"""Accept Bandwidth streams in a FastAPI / Pipecat-runner app, securely, without losing calls.

Everything an integrator needs besides the serializer itself, in one public module:

* :class:`BandwidthRunner`: the call webhook (:meth:`~BandwidthRunner.answer_call`),
  the keypad-digit webhook (:meth:`~BandwidthRunner.dtmf_event`),
  the stream endpoint (:meth:`~BandwidthRunner.accept_stream`), stream status events,
  the readiness route (:meth:`~BandwidthRunner.ready`), and the lifespan that drains the
  worker on SIGTERM/SIGHUP (:meth:`~BandwidthRunner.drain`) and hangs up every call
  still up when the process stops.
* :class:`BandwidthStream`: what ``accept_stream`` returns; ``async with stream:`` ends
  the phone call however the pipeline ends; ``end_on_disconnect(worker)`` is the
  disconnect handler.
* The parts, for apps that wire their own: the signed stream token
  (:func:`sign_stream_token` / :func:`verify_stream_token`), Basic auth
  (:class:`BasicAuth`, :func:`basic_auth_ok`), the answer BXML (:func:`stream_bxml`)
  and the webhook body (:func:`parse_call_event`).

Needs the ``runner`` extra (FastAPI, itsdangerous, bandwidth-sdk), which ``demo``
includes.
"""

from bwserial.basic_auth import REALM, BasicAuth, basic_auth_header, basic_auth_ok
from bwserial.runner.app import (
    CLOSE_DRAINING,
    CLOSE_NO_START,
    CLOSE_POLICY_VIOLATION,
    CLOSE_SHUTTING_DOWN,
    BandwidthRunner,
)
from bwserial.runner.bxml import KEEP_CALL_UP_SECS, STREAM_NAME, stream_bxml, stream_destination
from bwserial.runner.calls import LiveCalls
from bwserial.runner.drain import (
    DEFAULT_DRAIN_SECS,
    DRAIN_SIGNALS,
    ENV_DRAIN_SECS,
    SignalDrain,
    drain_secs_from_env,
)
from bwserial.runner.dtmf import (
    DTMF_DIGITS,
    DTMF_EVENT,
    MAX_WEBHOOK_BYTES,
    digit_signal,
    start_gather,
)
from bwserial.runner.stream import BandwidthStream, Cancellable, DrainHandler
from bwserial.runner.tokens import (
    MAX_TOKEN_CHARS,
    MIN_SECRET_BYTES,
    TOKEN_VERSION,
    InvalidStreamToken,
    StreamIdentity,
    sign_stream_token,
    verify_stream_token,
)
from bwserial.runner.webhook import (
    STREAM_STATUS_EVENTS,
    STREAMING_EVENTS,
    CallEvent,
    InvalidCallEvent,
    parse_call_event,
)

__all__ = [
    "CLOSE_DRAINING",
    "CLOSE_NO_START",
    "CLOSE_POLICY_VIOLATION",
    "CLOSE_SHUTTING_DOWN",
    "DEFAULT_DRAIN_SECS",
    "DRAIN_SIGNALS",
    "DTMF_DIGITS",
    "DTMF_EVENT",
    "ENV_DRAIN_SECS",
    "KEEP_CALL_UP_SECS",
    "MAX_TOKEN_CHARS",
    "MAX_WEBHOOK_BYTES",
    "MIN_SECRET_BYTES",
    "REALM",
    "STREAMING_EVENTS",
    "STREAM_NAME",
    "STREAM_STATUS_EVENTS",
    "TOKEN_VERSION",
    "BandwidthRunner",
    "BandwidthStream",
    "BasicAuth",
    "CallEvent",
    "Cancellable",
    "DrainHandler",
    "InvalidCallEvent",
    "InvalidStreamToken",
    "LiveCalls",
    "SignalDrain",
    "StreamIdentity",
    "basic_auth_header",
    "basic_auth_ok",
    "digit_signal",
    "drain_secs_from_env",
    "parse_call_event",
    "sign_stream_token",
    "start_gather",
    "stream_bxml",
    "stream_destination",
    "verify_stream_token",
]
