"""The directory's layout in Redis and the scripts that change it atomically.

Keys, under one prefix: ``players`` (hash: UUID -> entry JSON), ``proxies`` (set of proxy
ids ever seen alive), ``proxy:<id>`` (this proxy's liveness, expiring after three
heartbeats, holding the token of the process that set it) and ``proxy:<id>:players`` (set
of the UUIDs it holds).  Every change also publishes on ``events`` so other proxies update
their view without polling; the proxy seals each event before calling the script (see
:mod:`mcproxy.cluster.events`), which publishes it as given.  The claims, updates and
releases of one reactor turn go as one script (:data:`APPLY`) with one event.  Scripts build key names from
the prefix, so the directory needs one Redis (or a primary with replicas), not a Redis Cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from twisted.internet import defer

from mcproxy.cluster.entry import PlayerEntry

PREFIX = "mcproxy:"
EVENTS = PREFIX + "events"


def rpc_channel(proxy_id: str) -> str:
    return f"{PREFIX}rpc:{proxy_id}"


# Drops every entry ``id`` still holds (an entry a later login took over is left alone).
_DROP_HELD = """
local function drop_held(players, prefix, id)
  local held = prefix .. 'proxy:' .. id .. ':players'
  local dropped = 0
  for _, u in ipairs(redis.call('SMEMBERS', held)) do
    local current = redis.call('HGET', players, u)
    if current then
      local ok, entry = pcall(cjson.decode, current)
      if (not ok) or entry['proxy'] == id then
        redis.call('HDEL', players, u)
        dropped = dropped + 1
      end
    end
  end
  redis.call('DEL', held)
  return dropped
end
"""

# KEYS: players.  ARGV: prefix, proxy id, token, ttl ms, sealed event (published once if any were reaped).
# Returns {previous token or '', reaped proxy ids...}.
HEARTBEAT = _DROP_HELD + """
local prefix, id = ARGV[1], ARGV[2]
local alive = prefix .. 'proxy:' .. id
local previous = redis.call('GET', alive) or ''
redis.call('SET', alive, ARGV[3], 'PX', ARGV[4])
redis.call('SADD', prefix .. 'proxies', id)
local result = {previous}
local dropped = 0
for _, other in ipairs(redis.call('SMEMBERS', prefix .. 'proxies')) do
  if redis.call('EXISTS', prefix .. 'proxy:' .. other) == 0 then
    dropped = dropped + drop_held(KEYS[1], prefix, other)
    redis.call('SREM', prefix .. 'proxies', other)
    table.insert(result, other)
  end
end
if dropped > 0 then redis.call('PUBLISH', prefix .. 'events', ARGV[5]) end
return result
"""

# KEYS: players.  ARGV: prefix, proxy id, sealed event, then UUID, entry pairs.
# Replaces whatever this proxy id held (a predecessor's ghosts included) with its players now.
REPUBLISH = _DROP_HELD + """
local prefix, id = ARGV[1], ARGV[2]
drop_held(KEYS[1], prefix, id)
local held = prefix .. 'proxy:' .. id .. ':players'
for i = 4, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  redis.call('SADD', held, ARGV[i])
end
redis.call('PUBLISH', prefix .. 'events', ARGV[3])
return (#ARGV - 3) / 2
"""

# KEYS: players.  ARGV: prefix, proxy id, sealed event.  A proxy shutting down leaves at once, not after 3 beats.
WITHDRAW = _DROP_HELD + """
local prefix, id = ARGV[1], ARGV[2]
drop_held(KEYS[1], prefix, id)
redis.call('DEL', prefix .. 'proxy:' .. id)
redis.call('SREM', prefix .. 'proxies', id)
redis.call('PUBLISH', prefix .. 'events', ARGV[3])
return 1
"""

# KEYS: players.  ARGV: prefix, proxy id, sealed event, then the operations in order:
#   'c', UUID, entry, replace ('1' or '0'): claim; {1, replaced entry or ''} or {0, holder's entry}.
#     An entry held by a dead proxy, or by this proxy id (a predecessor's ghost), never refuses.
#   'u', UUID, session, entry: update, only while the entry is still this session's; 1 or 0.
#   'r', UUID, session: release, likewise; 1 or 0.
# Each operation does what it would alone.  The sealed event lists a change per operation; it
# is published once, followed by '|' and one '1' or '0' per change: whether it took effect (a
# claim counts only when it replaced an entry: a fresh claim has no server, so no view shows it).
APPLY = """
local players, prefix, id = KEYS[1], ARGV[1], ARGV[2]
local held = prefix .. 'proxy:' .. id .. ':players'
local results, applied, any = {}, {}, false
local i = 4
while i <= #ARGV do
  local op, u = ARGV[i], ARGV[i + 1]
  local current = redis.call('HGET', players, u)
  local took = '0'
  if op == 'c' then
    local result = nil
    if current then
      local ok, entry = pcall(cjson.decode, current)
      local owner = ok and entry['proxy'] or nil
      if owner and owner ~= id and ARGV[i + 3] ~= '1' and redis.call('EXISTS', prefix .. 'proxy:' .. owner) == 1 then
        result = {0, current}
      elseif owner then
        redis.call('SREM', prefix .. 'proxy:' .. owner .. ':players', u)
      end
    end
    if not result then
      redis.call('HSET', players, u, ARGV[i + 2])
      redis.call('SADD', held, u)
      if current then took = '1' end
      result = {1, current or ''}
    end
    table.insert(results, result)
    i = i + 4
  else
    local done = 0
    -- Entries are written with sorted keys and no spaces: the session's token is found as text.
    if current and string.find(current, '"session":"' .. ARGV[i + 2] .. '"', 1, true) then
      done, took = 1, '1'
      if op == 'u' then
        redis.call('HSET', players, u, ARGV[i + 3])
      else
        redis.call('HDEL', players, u)
        redis.call('SREM', held, u)
      end
    end
    table.insert(results, done)
    if op == 'u' then i = i + 4 else i = i + 3 end
  end
  table.insert(applied, took)
  if took == '1' then any = true end
end
if any then
  redis.call('PUBLISH', prefix .. 'events', ARGV[3] .. '|' .. table.concat(applied))
end
return results
"""


def claim_op(entry: PlayerEntry, entry_json: str, replace: bool) -> tuple:
    return ("c", entry.uuid, entry_json, "1" if replace else "0")


def update_op(entry: PlayerEntry, entry_json: str) -> tuple:
    return ("u", entry.uuid, entry.session, entry_json)


def release_op(entry: PlayerEntry) -> tuple:
    return ("r", entry.uuid, entry.session)


def _change(operation: tuple) -> dict:
    """The event's change for one operation: what other proxies apply if it took effect."""
    if operation[0] == "c":
        return {"op": "put", "entry": operation[2]}
    if operation[0] == "u":
        return {"op": "put", "entry": operation[3]}
    return {"op": "del", "uuid": operation[1], "session": operation[2]}


def batch_body(operations: list[tuple]) -> dict:
    """The sealed part of a batch's event: one change per operation, in order."""
    return {"op": "batch", "changes": [_change(operation) for operation in operations]}


def split_applied(text: str) -> tuple[str, str | None]:
    """A batch event's sealed envelope, and which of its changes took effect ('1'/'0' each).

    The flags follow the envelope outside it: the script learns them only as it runs.  A
    Redis client could publish other flags next to a copy of the envelope, but the copy's
    nonce has been seen by then (the script publishes first), so it is refused as a replay.
    """
    sealed, bar, applied = text.rpartition("|")
    if bar and applied and not applied.strip("01") and sealed.endswith("}"):
        return sealed, applied
    return text, None


@dataclass(frozen=True)
class Claim:
    """The answer to "may this UUID log in here?"."""

    claimed: bool
    #: The entry that was there: the holder when refused, the replaced session when claimed.
    other: PlayerEntry | None


class DirectoryStore:
    """The directory's operations as Redis calls; each returns a Deferred."""

    def __init__(self, link, proxy_id: str, seal: Callable[[dict], str], prefix: str = PREFIX) -> None:
        self._link = link
        self._id = proxy_id
        #: Seals an event body for the script to publish (mcproxy.cluster.events.sealer).
        self._seal = seal
        self._prefix = prefix
        self._players = prefix + "players"

    def heartbeat(self, token: str, ttl: float) -> defer.Deferred:
        """Fires with (whether our liveness key still held ``token``, reaped proxy ids)."""
        d = self._link.eval(HEARTBEAT, [self._players], [self._prefix, self._id, token, int(ttl * 1000),
                                                          self._seal({"op": "reaped"})])
        d.addCallback(lambda reply: (reply[0] == token, list(reply[1:])))
        return d

    def republish(self, entries: list[PlayerEntry]) -> defer.Deferred:
        args: list = [self._prefix, self._id, self._seal({"op": "republished"})]
        for entry in entries:
            args += [entry.uuid, entry.encode()]
        return self._link.eval(REPUBLISH, [self._players], args)

    def withdraw(self) -> defer.Deferred:
        return self._link.eval(WITHDRAW, [self._players], [self._prefix, self._id, self._seal({"op": "reaped"})])

    def apply(self, operations: list[tuple]) -> defer.Deferred:
        """Run ``operations`` (``claim_op``, ``update_op``, ``release_op``) as one script.

        Fires with one result per operation: a :class:`Claim` for a claim, True or False
        (whether the entry was still that session's) for an update or a release.
        """
        args: list = [self._prefix, self._id, self._seal(batch_body(operations))]
        for operation in operations:
            args += operation
        d = self._link.eval(APPLY, [self._players], args)
        d.addCallback(_results, operations)
        return d

    def entries(self) -> defer.Deferred:
        """Fires with every raw (UUID, entry JSON) pair, for the caller to check."""
        d = self._link.call("HGETALL", self._players)
        d.addCallback(_pairs)
        return d

    def publish(self, channel: str, message: str) -> defer.Deferred:
        return self._link.call("PUBLISH", channel, message)


def _pairs(reply) -> list[tuple[str, str]]:
    if isinstance(reply, dict):
        return list(reply.items())
    return list(zip(reply[::2], reply[1::2]))


def _results(reply, operations: list[tuple]) -> list:
    if not isinstance(reply, list) or len(reply) != len(operations):
        raise ValueError(f"unexpected answer to {len(operations)} directory operation(s): {reply!r:.80}")
    return [_claim_result(result) if operation[0] == "c" else int(result) == 1
            for operation, result in zip(operations, reply)]


def _claim_result(reply) -> Claim:
    claimed, text = int(reply[0]) == 1, reply[1]
    other = PlayerEntry.decode(text) if text else None
    return Claim(claimed, other)
