"""The directory's layout in Redis and the scripts that change it atomically.

Keys, under one prefix: ``players`` (hash: UUID -> entry JSON), ``proxies`` (set of proxy
ids ever seen alive), ``proxy:<id>`` (this proxy's liveness, expiring after three
heartbeats, holding the token of the process that set it) and ``proxy:<id>:players`` (set
of the UUIDs it holds).  Every change is also published on ``events`` so other proxies update
their view without polling: the claims, updates and releases of one reactor turn as one
script and one event (:func:`batch_header`), which starts with the proxy that caused it so
that proxy skips its own without parsing it.  Scripts build key names from the prefix, so the directory
needs one Redis (or a primary with replicas), not a Redis Cluster.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

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

# KEYS: players.  ARGV: prefix, proxy id, token, ttl ms.
# Returns {previous token or '', reaped proxy ids...}.
HEARTBEAT = _DROP_HELD + """
local prefix, id = ARGV[1], ARGV[2]
local alive = prefix .. 'proxy:' .. id
local previous = redis.call('GET', alive) or ''
redis.call('SET', alive, ARGV[3], 'PX', ARGV[4])
redis.call('SADD', prefix .. 'proxies', id)
local result = {previous}
for _, other in ipairs(redis.call('SMEMBERS', prefix .. 'proxies')) do
  if redis.call('EXISTS', prefix .. 'proxy:' .. other) == 0 then
    if drop_held(KEYS[1], prefix, other) > 0 then
      redis.call('PUBLISH', prefix .. 'events', cjson.encode({op = 'reaped', proxy = other}))
    end
    redis.call('SREM', prefix .. 'proxies', other)
    table.insert(result, other)
  end
end
return result
"""

# KEYS: players.  ARGV: prefix, proxy id, then UUID, entry pairs.
# Replaces whatever this proxy id held (a predecessor's ghosts included) with its players now.
REPUBLISH = _DROP_HELD + """
local prefix, id = ARGV[1], ARGV[2]
drop_held(KEYS[1], prefix, id)
local held = prefix .. 'proxy:' .. id .. ':players'
for i = 3, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  redis.call('SADD', held, ARGV[i])
end
redis.call('PUBLISH', prefix .. 'events', cjson.encode({op = 'republished', proxy = id}))
return (#ARGV - 2) / 2
"""

# KEYS: players.  ARGV: prefix, proxy id.  A proxy shutting down leaves at once, not after 3 beats.
WITHDRAW = _DROP_HELD + """
local prefix, id = ARGV[1], ARGV[2]
drop_held(KEYS[1], prefix, id)
redis.call('DEL', prefix .. 'proxy:' .. id)
redis.call('SREM', prefix .. 'proxies', id)
redis.call('PUBLISH', prefix .. 'events', cjson.encode({op = 'reaped', proxy = id}))
return 1
"""

# KEYS: players.  ARGV: prefix, proxy id, event header, then the operations in order:
#   'c', UUID, entry, replace ('1' or '0'), event: claim; {1, replaced entry or ''} or {0, holder's entry}.
#     An entry held by a dead proxy, or by this proxy id (a predecessor's ghost), never refuses.
#   'u', UUID, session, entry, event: update, only while the entry is still this session's; 1 or 0.
#   'r', UUID, session, event: release, likewise; 1 or 0.
# Each operation does what it would alone; one event carries every change that took effect (a
# claim only when it replaced an entry: a fresh claim has no server yet, so no view shows it).
APPLY = """
local players, prefix, id = KEYS[1], ARGV[1], ARGV[2]
local held = prefix .. 'proxy:' .. id .. ':players'
local results, changes = {}, {}
local i = 4
while i <= #ARGV do
  local op, u = ARGV[i], ARGV[i + 1]
  local current = redis.call('HGET', players, u)
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
      if current then table.insert(changes, ARGV[i + 4]) end
      result = {1, current or ''}
    end
    table.insert(results, result)
    i = i + 5
  else
    local done = 0
    -- Entries are written with sorted keys and no spaces: the session's token is found as text.
    if current and string.find(current, '"session":"' .. ARGV[i + 2] .. '"', 1, true) then
      done = 1
      if op == 'u' then
        redis.call('HSET', players, u, ARGV[i + 3])
        table.insert(changes, ARGV[i + 4])
      else
        redis.call('HDEL', players, u)
        redis.call('SREM', held, u)
        table.insert(changes, ARGV[i + 3])
      end
    end
    table.insert(results, done)
    if op == 'u' then i = i + 5 else i = i + 4 end
  end
end
if #changes > 0 then
  redis.call('PUBLISH', prefix .. 'events', ARGV[3] .. table.concat(changes, ',') .. ']}')
end
return results
"""


def batch_header(proxy_id: str) -> str:
    """The start of every batch event ``proxy_id`` publishes; its own are skipped by this prefix."""
    return '{"proxy":' + json.dumps(proxy_id) + ',"op":"batch","changes":['


def put_change(entry_json: str) -> str:
    """A batch's change that writes an entry (the entry embedded as an object, decoded once)."""
    return '{"op":"put","entry":' + entry_json + '}'


def del_change(player: str, session: str) -> str:
    return '{"op":"del","uuid":' + json.dumps(player) + ',"session":' + json.dumps(session) + '}'


def claim_op(entry: PlayerEntry, entry_json: str, replace: bool) -> tuple:
    return ("c", entry.uuid, entry_json, "1" if replace else "0", put_change(entry_json))


def update_op(entry: PlayerEntry, entry_json: str) -> tuple:
    return ("u", entry.uuid, entry.session, entry_json, put_change(entry_json))


def release_op(entry: PlayerEntry) -> tuple:
    return ("r", entry.uuid, entry.session, del_change(entry.uuid, entry.session))


@dataclass(frozen=True)
class Claim:
    """The answer to "may this UUID log in here?"."""

    claimed: bool
    #: The entry that was there: the holder when refused, the replaced session when claimed.
    other: PlayerEntry | None


class DirectoryStore:
    """The directory's operations as Redis calls; each returns a Deferred."""

    def __init__(self, link, proxy_id: str, prefix: str = PREFIX) -> None:
        self._link = link
        self._id = proxy_id
        self._prefix = prefix
        self._players = prefix + "players"
        self._header = batch_header(proxy_id)

    def heartbeat(self, token: str, ttl: float) -> defer.Deferred:
        """Fires with (whether our liveness key still held ``token``, reaped proxy ids)."""
        d = self._link.eval(HEARTBEAT, [self._players], [self._prefix, self._id, token, int(ttl * 1000)])
        d.addCallback(lambda reply: (reply[0] == token, list(reply[1:])))
        return d

    def republish(self, entries: list[PlayerEntry]) -> defer.Deferred:
        args: list = [self._prefix, self._id]
        for entry in entries:
            args += [entry.uuid, entry.encode()]
        return self._link.eval(REPUBLISH, [self._players], args)

    def withdraw(self) -> defer.Deferred:
        return self._link.eval(WITHDRAW, [self._players], [self._prefix, self._id])

    def apply(self, operations: list[tuple]) -> defer.Deferred:
        """Run ``operations`` (``claim_op``, ``update_op``, ``release_op``) as one script.

        Fires with one result per operation: a :class:`Claim` for a claim, True or False
        (whether the entry was still that session's) for an update or a release.
        """
        args: list = [self._prefix, self._id, self._header]
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
