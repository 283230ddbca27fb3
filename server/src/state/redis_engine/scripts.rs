//! The Lua scripts that change the shared state. Redis runs each one atomically, so a room's
//! sequence numbers, a document's revisions and a session's token are assigned exactly once
//! however many nodes race, and the bus messages a script publishes go out in the order the
//! scripts ran. Frames are built by the caller (in Rust, with the same encoders the memory
//! engine uses); a script only fills in the number it assigns.
//!
//! Member records (the values of a room's member hash) are `"<node> <conn> <order> <member>"`:
//! the node and connection holding the member, its join order, and its presence JSON.

use redis::Script;
use std::sync::LazyLock;

/// Netstring-style bus fields, as [`super::bus`] reads them.
const NS: &str = "local function ns(s) s = tostring(s) return #s .. ':' .. s end\n";

fn script(body: &str) -> Script {
    Script::new(&format!("{NS}{body}"))
}

/// KEYS: room, members, presence, rooms, active rooms.
/// ARGV: room, session, node, conn, member JSON, join frame, update frame ('' without meta),
/// presence on, new epoch, max rooms, presence entry, lease deadline, channel.
/// Returns `{'full'}` or `{'ok', epoch, latest seq, evt, member records}`.
pub static JOIN: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
if redis.call('EXISTS', KEYS[1]) == 0 then
  if redis.call('SCARD', KEYS[4]) >= tonumber(ARGV[10]) then return {'full'} end
  redis.call('HSET', KEYS[1], 'epoch', ARGV[9], 'seq', 0, 'evt', 0, 'joins', 0)
  redis.call('SADD', KEYS[4], ARGV[1])
end
local old = redis.call('HGET', KEYS[2], ARGV[2])
local frame = ''
local order, member
if old then
  local _, _, o, m = string.match(old, '^(%S+) (%S+) (%S+) (.*)$')
  order = o
  if ARGV[7] ~= '' then member = ARGV[5]; frame = ARGV[7] else member = m end
else
  order = string.format('%d', redis.call('HINCRBY', KEYS[1], 'joins', 1))
  member = ARGV[5]; frame = ARGV[6]
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3] .. ' ' .. ARGV[4] .. ' ' .. order .. ' ' .. member)
redis.call('ZADD', KEYS[3], ARGV[12], ARGV[11])
redis.call('SADD', KEYS[5], ARGV[1])
local evt
if frame ~= '' and ARGV[8] == '1' then
  evt = redis.call('HINCRBY', KEYS[1], 'evt', 1)
  redis.call('PUBLISH', ARGV[13], ns('r') .. ns(ARGV[1]) .. ns(string.format('%d', evt)) .. ns(ARGV[2]) .. ns(frame))
else
  evt = tonumber(redis.call('HGET', KEYS[1], 'evt'))
end
local state = redis.call('HMGET', KEYS[1], 'epoch', 'seq')
return {'ok', state[1], state[2], string.format('%d', evt), redis.call('HVALS', KEYS[2])}
"#,
    )
});

/// KEYS: room, members, presence, active rooms.
/// ARGV: room, session, expected record, leave frame, presence on, presence entry, channel,
/// expired before (ms; '' for any).
/// Removes the member if its record is still the expected one (and, for an expiry, its lease
/// has run out); returns 1 if it did.
pub static LEAVE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
if redis.call('HGET', KEYS[2], ARGV[2]) ~= ARGV[3] then return 0 end
if ARGV[8] ~= '' then
  local deadline = redis.call('ZSCORE', KEYS[3], ARGV[6])
  if deadline and tonumber(deadline) > tonumber(ARGV[8]) then return 0 end
end
redis.call('HDEL', KEYS[2], ARGV[2])
redis.call('ZREM', KEYS[3], ARGV[6])
if redis.call('HLEN', KEYS[2]) == 0 then redis.call('SREM', KEYS[4], ARGV[1]) end
if ARGV[5] == '1' then
  local evt = redis.call('HINCRBY', KEYS[1], 'evt', 1)
  redis.call('PUBLISH', ARGV[7], ns('r') .. ns(ARGV[1]) .. ns(string.format('%d', evt)) .. ns(ARGV[2]) .. ns(ARGV[4]))
end
return 1
"#,
    )
});

/// KEYS: room, members. ARGV: room, session, expected record, new record, update frame,
/// presence on, channel. Returns 1 if the record was still the expected one.
pub static SET_META: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
if redis.call('HGET', KEYS[2], ARGV[2]) ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[4])
if ARGV[6] == '1' then
  local evt = redis.call('HINCRBY', KEYS[1], 'evt', 1)
  redis.call('PUBLISH', ARGV[7], ns('r') .. ns(ARGV[1]) .. ns(string.format('%d', evt)) .. ns(ARGV[2]) .. ns(ARGV[5]))
end
return 1
"#,
    )
});

/// KEYS: room, log, members, rooms.
/// ARGV: room, frame before seq, frame after seq, history size, now (ms), history TTL (ms, '0'
/// for none), channel, mode ('m' a member, 's' the server), session, node, conn, new epoch,
/// max rooms, history bytes.
/// The history is trimmed by count and by bytes (the room's `hbytes` counts the frames its
/// stream holds; the oldest are deleted to fit); a frame alone over the bytes of a room that
/// keeps history is refused, taking no number.
/// Returns `{'not_member'}`, `{'full'}`, `{'too_large', frame bytes}` or
/// `{'ok', seq, members, evt}`.
pub static PUBLISH: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
if ARGV[8] == 'm' then
  local rec = redis.call('HGET', KEYS[3], ARGV[9])
  if not rec then return {'not_member'} end
  local n, c = string.match(rec, '^(%S+) (%S+) ')
  if n ~= ARGV[10] or c ~= ARGV[11] then return {'not_member'} end
elseif redis.call('EXISTS', KEYS[1]) == 0 then
  if redis.call('SCARD', KEYS[4]) >= tonumber(ARGV[13]) then return {'full'} end
  redis.call('HSET', KEYS[1], 'epoch', ARGV[12], 'seq', 0, 'evt', 0, 'joins', 0)
  redis.call('SADD', KEYS[4], ARGV[1])
end
local seq = string.format('%d', redis.call('HINCRBY', KEYS[1], 'seq', 1))
local frame = ARGV[2] .. seq .. ARGV[3]
local size = tonumber(ARGV[4])
local budget = tonumber(ARGV[14])
if size > 0 and #frame > budget then
  redis.call('HINCRBY', KEYS[1], 'seq', -1)
  return {'too_large', string.format('%d', #frame)}
end
local evt = string.format('%d', redis.call('HINCRBY', KEYS[1], 'evt', 1))
if size > 0 then
  local held = 0
  if redis.call('EXISTS', KEYS[2]) == 1 then held = tonumber(redis.call('HGET', KEYS[1], 'hbytes') or '0') end
  redis.call('XADD', KEYS[2], seq .. '-0', 'f', frame, 't', ARGV[5])
  held = held + #frame
  local len = redis.call('XLEN', KEYS[2])
  while len > 1 and (len > size or held > budget) do
    local oldest = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)[1]
    held = held - #oldest[2][2]
    redis.call('XDEL', KEYS[2], oldest[1])
    len = len - 1
  end
  -- The newest always fits (checked above); a count from before this script is corrected.
  if len == 1 then held = #frame end
  redis.call('HSET', KEYS[1], 'hbytes', held)
else
  redis.call('XADD', KEYS[2], 'MAXLEN', 0, seq .. '-0', 'f', frame, 't', ARGV[5])
end
if ARGV[6] ~= '0' then redis.call('PEXPIRE', KEYS[2], ARGV[6]) end
redis.call('PUBLISH', ARGV[7], ns('r') .. ns(ARGV[1]) .. ns(evt) .. ns('') .. ns(frame))
return {'ok', seq, string.format('%d', redis.call('HLEN', KEYS[3])), evt}
"#,
    )
});

/// KEYS: session, requests, finished, sessions.
/// ARGV: expected token, new token, node, conn, lease (ms), session id, lease end (ms).
/// Takes the session over if its token is still the expected one: `{'gone'}` or
/// `{'ok', old node, old conn, was attached}`.
pub static RESUME: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local cur = redis.call('HMGET', KEYS[1], 'token', 'node', 'conn', 'attached')
if cur[1] ~= ARGV[1] then return {'gone'} end
redis.call('HSET', KEYS[1], 'token', ARGV[2], 'node', ARGV[3], 'conn', ARGV[4], 'attached', '1')
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[5]) end
redis.call('ZADD', KEYS[4], ARGV[7], ARGV[6])
return {'ok', cur[2] or '', cur[3] or '', cur[4] or '0'}
"#,
    )
});

/// KEYS: session, requests, finished, sessions.
/// ARGV: node, conn, lease (ms), session id, lease end (ms), detach ('1': the connection
/// ended; '0': renew an attached session's lease).
/// Applies only while the session is still held by that connection; returns 1 if it was.
pub static LEASE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local cur = redis.call('HMGET', KEYS[1], 'node', 'conn', 'attached')
if cur[1] ~= ARGV[1] or cur[2] ~= ARGV[2] or cur[3] ~= '1' then return 0 end
if ARGV[6] == '1' then redis.call('HSET', KEYS[1], 'attached', '0') end
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[3]) end
redis.call('ZADD', KEYS[4], ARGV[5], ARGV[4])
return 1
"#,
    )
});

/// KEYS: session, requests. ARGV: request id, most running, this node.
/// Returns `{'new'}`, `{'running', node running it}`, `{'busy'}`, `{'done', reply}` or
/// `{'expired'}` (not remembered, and at or below the highest id evicted: the session's `floor`).
pub static BEGIN_REQUEST: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return {'new'} end
local v = redis.call('HGET', KEYS[2], ARGV[1])
if v then
  if string.sub(v, 1, 1) == 'r' then return {'running', string.sub(v, 2)} end
  return {'done', string.sub(v, 2)}
end
if tonumber(ARGV[1]) <= tonumber(redis.call('HGET', KEYS[1], 'floor') or '0') then return {'expired'} end
if tonumber(redis.call('HGET', KEYS[1], 'running') or '0') >= tonumber(ARGV[2]) then return {'busy'} end
redis.call('HSET', KEYS[2], ARGV[1], 'r' .. ARGV[3])
redis.call('HINCRBY', KEYS[1], 'running', 1)
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
return {'new'}
"#,
    )
});

/// KEYS: session, requests, finished. ARGV: request id, reply, replies kept, reply bytes kept.
/// Records the reply of a running request (whichever node runs it), evicting the oldest
/// finished ones beyond either bound (never the newest); the session's `rbytes` sums the replies
/// kept and `floor` is the highest id evicted. Returns the session's
/// `{node, conn, attached, recorded}` (`recorded` '0': it was not running, nothing changed).
pub static FINISH_REQUEST: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local v = redis.call('HGET', KEYS[2], ARGV[1])
local recorded = '0'
if redis.call('EXISTS', KEYS[1]) == 1 and v and string.sub(v, 1, 1) == 'r' then
  recorded = '1'
  redis.call('HSET', KEYS[2], ARGV[1], 'd' .. ARGV[2])
  redis.call('HINCRBY', KEYS[1], 'running', -1)
  local len = redis.call('RPUSH', KEYS[3], ARGV[1])
  local bytes = redis.call('HINCRBY', KEYS[1], 'rbytes', string.len(ARGV[2]))
  local floor = tonumber(redis.call('HGET', KEYS[1], 'floor') or '0')
  while len > tonumber(ARGV[3]) or (bytes > tonumber(ARGV[4]) and len > 1) do
    local old = redis.call('LPOP', KEYS[3])
    -- The stored value is 'd' .. reply.
    bytes = bytes - math.max(redis.call('HSTRLEN', KEYS[2], old) - 1, 0)
    redis.call('HDEL', KEYS[2], old)
    if tonumber(old) > floor then floor = tonumber(old) end
    len = len - 1
  end
  redis.call('HSET', KEYS[1], 'rbytes', string.format('%d', bytes), 'floor', string.format('%d', floor))
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl > 0 then
    redis.call('PEXPIRE', KEYS[2], ttl)
    redis.call('PEXPIRE', KEYS[3], ttl)
  end
end
local cur = redis.call('HMGET', KEYS[1], 'node', 'conn', 'attached')
return {cur[1] or '', cur[2] or '', cur[3] or '0', recorded}
"#,
    )
});

/// KEYS: doc, docs. ARGV: new epoch, max docs, doc name.
/// Creates the document if needed; `{'full'}` or `{'ok', epoch, rev, ver, body}`.
pub static DOC_OPEN: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
if redis.call('EXISTS', KEYS[1]) == 0 then
  if redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[2]) then return {'full'} end
  redis.call('SADD', KEYS[2], ARGV[3])
  redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'rev', 0, 'ver', 1, 'body', '{}')
end
local d = redis.call('HMGET', KEYS[1], 'epoch', 'rev', 'ver', 'body')
return {'ok', d[1], d[2], d[3], d[4]}
"#,
    )
});

/// KEYS: doc, log, origins, docs.
/// ARGV: expected version, new epoch, new rev, new body ('' unchanged), origin ('' none),
/// origin record, op frame ('' none), ops kept, max docs, doc name, channel.
/// Writes an op's outcome if nothing else was written since the version read: `'retry'`,
/// `'full'` or `'ok'`.
pub static DOC_COMMIT: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local ver = redis.call('HGET', KEYS[1], 'ver')
if (ver or '0') ~= ARGV[1] then return 'retry' end
if not ver then
  if redis.call('SCARD', KEYS[4]) >= tonumber(ARGV[9]) then return 'full' end
  redis.call('SADD', KEYS[4], ARGV[10])
  redis.call('HSET', KEYS[1], 'epoch', ARGV[2], 'rev', 0, 'body', '{}')
end
redis.call('HINCRBY', KEYS[1], 'ver', 1)
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'rev', ARGV[3], 'body', ARGV[4]) end
if ARGV[5] ~= '' then redis.call('HSET', KEYS[3], ARGV[5], ARGV[6]) end
if ARGV[7] ~= '' then
  redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[8], ARGV[3] .. '-0', 'f', ARGV[7])
  redis.call('PUBLISH', ARGV[11], ns('d') .. ns(ARGV[10]) .. ns(ARGV[3]) .. ns(ARGV[7]))
end
return 'ok'
"#,
    )
});
