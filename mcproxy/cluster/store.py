"""The directory's layout in Redis and the scripts that change it atomically.

Keys, under one prefix: ``players`` (hash: UUID -> entry JSON), ``proxies`` (set of proxy
ids ever seen alive), ``proxy:<id>`` (this proxy's liveness, expiring after three
heartbeats, holding the token of the process that set it) and ``proxy:<id>:players`` (set
of the UUIDs it holds).  Every change also publishes on ``events`` so other proxies update
their view without polling; the proxy seals each event before calling the script (see
:mod:`mcproxy.cluster.events`), which publishes it as given.  Scripts build key names from
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

# KEYS: players.  ARGV: prefix, UUID, entry, proxy id, replace ('1' or '0'), sealed event.
# Returns {1, previous entry or ''} when claimed, {0, holder's entry} when refused.
# An entry held by a dead proxy, or by this proxy id (a predecessor's ghost), never refuses.
CLAIM = """
local prefix, u, id = ARGV[1], ARGV[2], ARGV[4]
local current = redis.call('HGET', KEYS[1], u)
if current then
  local ok, entry = pcall(cjson.decode, current)
  local owner = ok and entry['proxy'] or nil
  if owner and owner ~= id and ARGV[5] ~= '1' and redis.call('EXISTS', prefix .. 'proxy:' .. owner) == 1 then
    return {0, current}
  end
  if owner then redis.call('SREM', prefix .. 'proxy:' .. owner .. ':players', u) end
end
redis.call('HSET', KEYS[1], u, ARGV[3])
redis.call('SADD', prefix .. 'proxy:' .. id .. ':players', u)
redis.call('PUBLISH', prefix .. 'events', ARGV[6])
return {1, current or ''}
"""

# KEYS: players.  ARGV: prefix, UUID, session, new entry ('' = remove), proxy id, sealed event.
# Changes the entry only while it is still this session's.
UPDATE = """
local prefix, u, session, new, id = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local current = redis.call('HGET', KEYS[1], u)
if not current then return 0 end
local ok, entry = pcall(cjson.decode, current)
if (not ok) or entry['session'] ~= session then return 0 end
if new == '' then
  redis.call('HDEL', KEYS[1], u)
  redis.call('SREM', prefix .. 'proxy:' .. id .. ':players', u)
else
  redis.call('HSET', KEYS[1], u, new)
end
redis.call('PUBLISH', prefix .. 'events', ARGV[6])
return 1
"""


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

    def claim(self, entry: PlayerEntry, replace: bool) -> defer.Deferred:
        text = entry.encode()
        d = self._link.eval(CLAIM, [self._players], [self._prefix, entry.uuid, text, self._id, "1" if replace else "0",
                                                     self._seal({"op": "put", "entry": text})])
        d.addCallback(_claim_result)
        return d

    def update(self, entry: PlayerEntry) -> defer.Deferred:
        text = entry.encode()
        return self._link.eval(UPDATE, [self._players], [self._prefix, entry.uuid, entry.session, text, self._id,
                                                         self._seal({"op": "put", "entry": text})])

    def release(self, entry: PlayerEntry) -> defer.Deferred:
        event = self._seal({"op": "del", "uuid": entry.uuid, "session": entry.session})
        return self._link.eval(UPDATE, [self._players], [self._prefix, entry.uuid, entry.session, "", self._id, event])

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


def _claim_result(reply) -> Claim:
    claimed, text = int(reply[0]) == 1, reply[1]
    other = PlayerEntry.decode(text) if text else None
    return Claim(claimed, other)
