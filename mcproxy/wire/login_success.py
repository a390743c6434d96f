"""Login Success as each protocol version lays it out: one writer, so the per-version
differences sit in one place rather than at every call."""

from __future__ import annotations

import uuid

from mcproxy.wire.packets import PacketIds
from mcproxy.wire.types import encode_bool, encode_string, encode_uuid


def encode_login_success(ids: PacketIds, profile_id: uuid.UUID, name: str, properties: bytes,
                         session_id: uuid.UUID | None = None) -> bytes:
    """The fields of Login Success for ``ids.protocol``: the profile (``properties``
    already encoded), then 1.20.5-1.21.1's strict-error-handling flag, or from 26.2 the
    play session's id, which such a version cannot do without."""
    fields = [encode_uuid(profile_id), encode_string(name, 16), properties]
    if ids.login_success_has_strict_flag:
        fields.append(encode_bool(False))
    if ids.login_success_has_session_id:
        if session_id is None:
            raise ValueError(f"protocol {ids.protocol}: Login Success needs a play session id")
        fields.append(encode_uuid(session_id))
    return b"".join(fields)
