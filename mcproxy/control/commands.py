"""AMP commands of the control plane, split by which side answers them.

Versioning follows one rule: a compatible change adds optional arguments at
the end of a command's lists; anything else is a new C{commandName}. Refusals
a caller can act on go in C{errors}; envelope failures that mean the peer
cannot be trusted (signature, sender, version) go in C{fatalErrors}, which
close the connection.

Every command's first argument is the envelope. It is not a box key of its
own: on the way in it collects the C{env_*} keys and the signed body from
the whole box; on the way out the signature is added once the body is
serialized. Callers pass a correlation id as C{envelope=...} (optional).
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

from twisted.protocols import amp

from mcproxy.control.envelope import ANSWER_SUFFIX, ENVELOPE_KEYS, Envelope
from mcproxy.control.reasons import (
    BadSignature,
    InvalidTimestamp,
    PayloadTooLarge,
    ReplayedNonce,
    ReplayedSnapshot,
    UnexpectedSender,
    UnknownCommand,
    UnknownPlayer,
    UnknownServer,
    UnsynchronizedRegistry,
    VersionMismatch,
)


class SigningProtocol(Protocol):
    """What a signed command needs from the AMP connection it travels on."""

    def sign_box(
        self, message_name: bytes, box: dict[bytes, bytes], correlation_id: str | None
    ) -> dict[bytes, bytes]: ...

    def check_answer(self, command: type[amp.Command], envelope: Envelope) -> None: ...


class SignedEnvelope(amp.Argument):
    """The envelope pseudo-argument; see the module docstring."""

    optional = True

    def fromBox(
        self, name: bytes, strings: dict[bytes, bytes], objects: dict[str, Any], proto: Any
    ) -> None:
        objects["envelope"] = Envelope.from_box(strings)
        for key in ENVELOPE_KEYS:
            strings.pop(key, None)

    def toBox(
        self, name: bytes, strings: dict[bytes, bytes], objects: dict[str, Any], proto: Any
    ) -> None:
        objects.pop("envelope", None)


def signed(*pairs: tuple[bytes, amp.Argument]) -> list[tuple[bytes, amp.Argument]]:
    """An argument list that starts with the envelope."""
    return [(b"envelope", SignedEnvelope()), *pairs]


def answer_name(command: type[amp.Command]) -> bytes:
    """The message name signed into an answer, distinct from the request's."""
    return command.commandName + ANSWER_SUFFIX


class SignedCommand(amp.Command):
    """Base for control commands: signs on the way out, checks answers on the way in."""

    arguments: ClassVar[list[tuple[bytes, amp.Argument]]] = signed()
    response: ClassVar[list[tuple[bytes, amp.Argument]]] = signed()
    errors: ClassVar[dict[type[Exception], bytes]] = {
        PayloadTooLarge: PayloadTooLarge.reason.code,
        InvalidTimestamp: InvalidTimestamp.reason.code,
        ReplayedNonce: ReplayedNonce.reason.code,
    }
    fatalErrors: ClassVar[dict[type[Exception], bytes]] = {
        VersionMismatch: VersionMismatch.reason.code,
        UnexpectedSender: UnexpectedSender.reason.code,
        BadSignature: BadSignature.reason.code,
    }

    @classmethod
    def makeArguments(cls, objects: dict[str, Any], proto: SigningProtocol) -> amp.Box:
        correlation_id = objects.get("envelope")
        box = super().makeArguments(objects, proto)
        box.update(proto.sign_box(cls.commandName, box, correlation_id))
        return box

    @classmethod
    def makeResponse(cls, objects: dict[str, Any], proto: SigningProtocol) -> amp.Box:
        correlation_id = objects.get("envelope")
        box = super().makeResponse(objects, proto)
        box.update(proto.sign_box(answer_name(cls), box, correlation_id))
        return box

    @classmethod
    def parseResponse(cls, box: amp.AmpBox, protocol: SigningProtocol) -> dict[str, Any]:
        objects = super().parseResponse(box, protocol)
        protocol.check_answer(cls, objects.pop("envelope"))
        return objects


# Answered by the proxy (sent by a backend).


class Hello(SignedCommand):
    """First message on a link: who the backend is and what it speaks.

    C{refused} names the reason the backend refused the proxy's answer to its
    previous Hello (say UNEXPECTED_SENDER): only the backend can see that
    refusal, and this is how the proxy learns it.
    """

    commandName = b"mcproxy.control.Hello"
    arguments = signed(
        (b"server_id", amp.Unicode()),
        (b"artifact_version", amp.Unicode()),
        (b"control_version", amp.Integer()),
        (b"refused", amp.Unicode(optional=True)),
    )
    response = signed(
        (b"artifact_version", amp.Unicode()),
        (b"control_version", amp.Integer()),
        (b"serial", amp.Integer()),
        (b"digest", amp.Unicode()),
    )


class RequestRegistrySnapshot(SignedCommand):
    """Ask for the whole registry; chunks follow as L{RegistrySnapshot} calls.

    The proxy sends the chunks before this answer, tagged with this request's
    correlation id as C{request_id}; the answer then names what was sent.
    """

    commandName = b"mcproxy.control.RequestRegistrySnapshot"
    arguments = signed((b"known_serial", amp.Integer(optional=True)))
    response = signed(
        (b"serial", amp.Integer()),
        (b"digest", amp.Unicode()),
        (b"count", amp.Integer()),
    )


class Heartbeat(SignedCommand):
    """Liveness plus the backend's registry digest, so drift is noticed."""

    commandName = b"mcproxy.control.Heartbeat"
    arguments = signed((b"serial", amp.Integer()), (b"digest", amp.Unicode()))
    response = signed(
        (b"serial", amp.Integer()),
        (b"digest", amp.Unicode()),
        (b"synchronized", amp.Boolean()),
    )


class ExecuteProxyCommand(SignedCommand):
    """Run a proxy command on behalf of a player connected through a backend."""

    commandName = b"mcproxy.control.ExecuteProxyCommand"
    arguments = signed(
        (b"player", amp.Unicode()),
        (b"command_line", amp.Unicode()),
        (b"registry_digest", amp.Unicode()),
    )
    response = signed((b"ok", amp.Boolean()), (b"output", amp.Unicode()))
    errors = {
        UnsynchronizedRegistry: UnsynchronizedRegistry.reason.code,
        UnknownPlayer: UnknownPlayer.reason.code,
        UnknownCommand: UnknownCommand.reason.code,
    }


class TransferPlayer(SignedCommand):
    """Ask the proxy to move a player; the answer says done or why not."""

    commandName = b"mcproxy.control.TransferPlayer"
    arguments = signed((b"player", amp.Unicode()), (b"server", amp.Unicode()))
    response = signed((b"done", amp.Boolean()), (b"reason", amp.Unicode()))
    errors = {
        UnsynchronizedRegistry: UnsynchronizedRegistry.reason.code,
        UnknownPlayer: UnknownPlayer.reason.code,
        UnknownServer: UnknownServer.reason.code,
    }


PROXY_ANSWERED: tuple[type[SignedCommand], ...] = (
    Hello,
    RequestRegistrySnapshot,
    Heartbeat,
    ExecuteProxyCommand,
    TransferPlayer,
)


# Answered by a backend (sent by the proxy).


class RegistrySnapshot(SignedCommand):
    """One signed chunk of an encoded registry snapshot.

    C{data} is at most one AMP value (64 KiB); C{total} bytes in C{count}
    chunks make up the canonical JSON whose SHA-256 is C{digest}.
    C{request_id} is the correlation id of the request being answered, or
    empty for a push after a registry change.
    """

    commandName = b"mcproxy.control.RegistrySnapshot"
    arguments = signed(
        (b"request_id", amp.Unicode()),
        (b"serial", amp.Integer()),
        (b"digest", amp.Unicode()),
        (b"index", amp.Integer()),
        (b"count", amp.Integer()),
        (b"total", amp.Integer()),
        (b"data", amp.String()),
    )
    errors = {ReplayedSnapshot: ReplayedSnapshot.reason.code}


class RegistryChanged(SignedCommand):
    """The proxy's registry is now at C{serial}/C{digest}; resync if different."""

    commandName = b"mcproxy.control.RegistryChanged"
    arguments = signed((b"serial", amp.Integer()), (b"digest", amp.Unicode()))


BACKEND_ANSWERED: tuple[type[SignedCommand], ...] = (
    RegistrySnapshot,
    RegistryChanged,
)
