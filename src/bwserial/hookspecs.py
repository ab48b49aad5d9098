"""The bwserial plugin contract: every hook a plugin may implement.

This module is the documentation plugin authors read. Implement a hook by
writing a function (or method) with the same name and any subset of the
parameters below, decorated with :data:`bwserial.hookimpl`::

    from bwserial import hookimpl

    @hookimpl
    def bwserial_stream_stopped(context, event):
        print(context.call_id, event.reason)

Rules that hold for every hook:

* Hooks are **synchronous**. An ``async def`` implementation returns a coroutine
  that nothing awaits; bwserial closes it and logs a warning. Do async work on
  the objects the registration hooks return (codecs, hang-up strategies).
* Do **not** give hook parameters default values: pluggy passes only the names
  without defaults, so a parameter with a default always receives the default.
* Event hooks are observers: every implementation is called, their return
  values are ignored, and an exception is logged with the plugin's name and
  never reaches the call.
* Event hooks run on the event loop of the call, inside ``serialize`` or
  ``deserialize``: keep them short and never block (no network, no disk sync).
* ``context`` is a read-only :class:`~bwserial.types.StreamContext`. It never
  holds credentials.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeAlias

import pluggy

from bwserial.types import (
    BadMessage,
    CallEnded,
    CallRegistryFactory,
    Codec,
    HangupResult,
    HangupStrategy,
    Interruption,
    MediaGap,
    StreamContext,
    StreamStarted,
    StreamStopped,
    StreamWarning,
    TransferStrategy,
)

PROJECT_NAME = "bwserial"
"""The pluggy project name, also the entry-point group third-party plugins use."""

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

# --------------------------------------------------------------------------- registration


@hookspec
def bwserial_codecs() -> Iterable[Codec]:
    """Register audio codecs.

    Called once per plugin configuration (the first serializer built with it; the
    result is cached, not asked per call). All implementations are called and their
    codecs collected; the one whose
    ``name`` matches ``InputParams.outbound_encoding`` (case-insensitively) encodes
    outbound audio, and the one matching the ``start`` message's media format
    decodes inbound audio (PCMU unless Bandwidth says otherwise).

    Two enabled plugins registering the same name is a configuration error that
    names both plugins; disable one of them to choose.

    Returns:
        An iterable of :class:`~bwserial.types.Codec` (may be empty).

    Do not do I/O or build per-call state here: return factories; bwserial calls
    them once per call.
    """
    return ()


@hookspec
def bwserial_hangup_strategies() -> Iterable[HangupStrategy]:
    """Register ways of ending the phone call.

    Called like :func:`bwserial_codecs`. ``InputParams.hangup`` selects a strategy
    by name (default ``"voice-api"``, the built-in OAuth Voice API strategy).
    The factory is called once per call with a
    :class:`~bwserial.types.HangupConfig` carrying the trusted IDs and
    credentials; the object it returns does the async work.

    Returns:
        An iterable of :class:`~bwserial.types.HangupStrategy` (may be empty).
    """
    return ()


@hookspec
def bwserial_transfer_strategies() -> Iterable[TransferStrategy]:
    """Register ways of transferring the caller to a person.

    Called like :func:`bwserial_codecs`. ``InputParams.transfer`` selects a strategy
    by name (default: the built-in ``"voice-api"``, which replaces the call's BXML
    with a ``<Transfer>``, when bandwidth-sdk is installed). The factory is called
    once per call, at construction, with the same
    :class:`~bwserial.types.HangupConfig` as the hang-up strategy (its ``settings``
    being the transfer strategy's own entry of ``InputParams.plugin_settings``); the
    :class:`~bwserial.types.Transfer` it returns does the async work when the
    pipeline pushes a :class:`bwserial.TransferFrame`.

    Returns:
        An iterable of :class:`~bwserial.types.TransferStrategy` (may be empty).
    """
    return ()


@hookspec
def bwserial_call_registries() -> Iterable[CallRegistryFactory]:
    """Register call registries by URL scheme (webhooks reaching the worker that holds a call).

    Called once per process, the first time :func:`bwserial.calls.registry_from_url`
    meets a URL scheme other than ``memory``. All implementations are called and
    their factories collected by scheme; the one whose ``scheme`` matches the URL's
    (case-insensitively) builds the registry, with the whole URL and the caller's
    keyword options. ``BandwidthRunner(call_registry_url=...)`` and
    ``BWSERIAL_CALL_REGISTRY_URL`` select it; the ``bwserial-redis`` package
    registers ``redis``, ``rediss`` and ``unix``.

    Two enabled plugins registering the same scheme is a configuration error that
    names both plugins; disable one of them to choose.

    Returns:
        An iterable of :class:`~bwserial.types.CallRegistryFactory` (may be empty).

    Do not connect anywhere here, nor in the factory: the registry connects in its
    ``start()``, which the runner awaits when the app starts.
    """
    return ()


# --------------------------------------------------------------------------- events


@hookspec
def bwserial_stream_started(context: StreamContext, event: StreamStarted) -> None:
    """Bandwidth's ``start`` message arrived (once per stream).

    ``event`` carries what Bandwidth sent. Its IDs are unauthenticated: use them
    for logs and correlation, never to address the Voice API.
    """


@hookspec
def bwserial_stream_stopped(context: StreamContext, event: StreamStopped) -> None:
    """The stream ended: a ``stop`` arrived, or the application reported the
    socket closed without one (:meth:`BandwidthFrameSerializer.notify_socket_closed`).

    Called at most once per serializer. ``context`` has the final counters.
    """


@hookspec
def bwserial_stream_warning(context: StreamContext, warning: StreamWarning) -> None:
    """Something unexpected that the serializer tolerates: the ``start`` names a
    different stream id than configured, or a media format other than PCMU/8000.
    """


@hookspec
def bwserial_media_gap(context: StreamContext, gap: MediaGap) -> None:
    """Inbound ``sequenceNumber``s skipped ahead (lost frames) or went back
    (a duplicate). Not called for frames without sequence numbers."""


@hookspec
def bwserial_interruption(context: StreamContext, event: Interruption) -> None:
    """The bot was interrupted: a ``clear`` is being sent and queued audio dropped."""


@hookspec
def bwserial_hangup_finished(context: StreamContext, result: HangupResult) -> None:
    """A hang-up or transfer attempt ended (successfully or not), with its typed result.

    Called after each attempt by the serializer; a failed attempt may be followed
    by another on a later End/Cancel frame. ``result.kind`` says whether it was a
    transfer (``EndingKind.TRANSFER``; ``outcome`` ``TRANSFERRED`` when it worked) or
    a hang-up; a failed transfer whose fallback hangs up is followed by that
    hang-up's result.
    """


@hookspec
def bwserial_call_ended(context: StreamContext, event: CallEnded) -> None:
    """The call is over: called exactly once per serializer, with the final facts.

    With ``auto_hang_up`` on, after the first hang-up attempt finished (``event.hangup``
    is its result, whatever the outcome); with it off, at the first of EndFrame,
    CancelFrame, ``stop`` or ``notify_socket_closed()`` (``event.hangup`` is None).
    Observers need not stitch ``bwserial_stream_stopped`` and
    ``bwserial_hangup_finished`` together, in either order.
    """


@hookspec
def bwserial_bad_message(context: StreamContext, message: BadMessage) -> None:
    """An inbound message was malformed and dropped; the call continues.

    Called for every such message (logging is rate-limited, this is not): keep
    the implementation cheap, a flood of bad frames calls it at frame rate.
    """


# --------------------------------------------------------------------------- per-call observers
# (added for issue 13: per-call observer state and settings; kept apart for merging)


PluginSettings: TypeAlias = Mapping[str, Any]
"""A plugin's entry of ``InputParams.plugin_settings`` (read-only)."""


@hookspec
def bwserial_call_observer(context: StreamContext, settings: PluginSettings) -> object | None:
    """Build this plugin's observer for one call.

    Called once per serializer (per call), at construction, directly rather than
    through pluggy. Return an object whose methods are named like the event hooks
    above (``bwserial_media_gap(self, gap)``, with any subset of that hook's
    parameters and no ``@hookimpl`` needed): they are called for this call only,
    so the object can keep per-call state in plain attributes. Return None to
    sit this call out.

    Args:
        context: The read-only view of the call; its ``call_id`` is the trusted one.
        settings: This plugin's entry of ``InputParams.plugin_settings``, keyed by
            the plugin's name (case, ``-`` and ``_`` ignored); empty when none.

    An exception is logged with the plugin's name and the call goes on without
    this observer. Keep it cheap: it runs for every call.
    """
