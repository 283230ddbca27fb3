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

/// Idle eviction of rooms and documents. The indexes (`rooms-idle`, `docs-idle`) score each one by
/// when it became idle, `IN_USE` while a room has members; an entry idle since before a cutoff
/// is dropped with its keys, named from the prefix as `keys::Keys` names them. (Keys a script
/// builds itself are fine on one Redis, not on a Redis Cluster, which the engine does not use.)
const IDLE: &str = r#"
local IN_USE = 9007199254740991
local function drop_room(p, name)
  redis.call('DEL', p .. 'room:' .. name, p .. 'room-log:' .. name, p .. 'room-members:' .. name)
end
local function drop_doc(p, name)
  redis.call('DEL', p .. 'doc:' .. name, p .. 'doc-log:' .. name, p .. 'doc-origins:' .. name)
end
-- A place for one more entry in the index: the longest-idle one (idle since `now` or before)
-- makes it if the index holds `max`. False when every entry is in use.
local function make_place(idx, max, now, p, drop)
  if redis.call('ZCARD', idx) < max then return true end
  local oldest = redis.call('ZRANGEBYSCORE', idx, '-inf', now, 'LIMIT', 0, 1)[1]
  if not oldest then return false end
  drop(p, oldest)
  redis.call('ZREM', idx, oldest)
  return true
end
-- Drops `name` if it has been idle since `cutoff` or before ('': no idle TTL).
local function expire_one(idx, name, cutoff, p, drop)
  if cutoff == '' then return end
  local score = redis.call('ZSCORE', idx, name)
  if score and tonumber(score) <= tonumber(cutoff) then
    drop(p, name)
    redis.call('ZREM', idx, name)
  end
end
"#;

/// A log (a room's history, a document's op log) bounded by count and by bytes.
const TRIMMED_LOG: &str = r#"
-- Appends `frame` to stream `log` as entry `id` (field 'f', then the `...` field-value pairs),
-- then deletes the oldest entries while there are more than `size` or they hold more than
-- `budget` bytes, never the newest (the caller checked it fits). Field `field` of `hash` counts
-- the bytes the log holds; a count from before the log expired or shrank to one is corrected.
local function append_trimmed(hash, field, log, id, frame, size, budget, ...)
  local held = 0
  if redis.call('EXISTS', log) == 1 then held = tonumber(redis.call('HGET', hash, field) or '0') end
  redis.call('XADD', log, id, 'f', frame, ...)
  held = held + #frame
  local len = redis.call('XLEN', log)
  while len > 1 and (len > size or held > budget) do
    local oldest = redis.call('XRANGE', log, '-', '+', 'COUNT', 1)[1]
    held = held - #oldest[2][2]
    redis.call('XDEL', log, oldest[1])
    len = len - 1
  end
  if len == 1 then held = #frame end
  redis.call('HSET', hash, field, held)
end
"#;

fn script(body: &str) -> Script {
    Script::new(&format!("{NS}{IDLE}{TRIMMED_LOG}{body}"))
}

/// KEYS: room, members, presence, rooms index, active rooms.
/// ARGV: room, session, node, conn, member JSON, join frame, update frame ('' without meta),
/// presence on, new epoch, max rooms, presence entry, lease deadline, channel, now (ms),
/// idle cutoff (ms; '' for no idle TTL), key prefix.
/// A room idle since the cutoff is removed first (the join starts it again, in a new epoch); a
/// new room takes the place of the longest-idle one at the bound.
/// Returns `{'full'}` or `{'ok', epoch, latest seq, evt, member records}`.
pub static JOIN: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
expire_one(KEYS[4], ARGV[1], ARGV[15], ARGV[16], drop_room)
if redis.call('EXISTS', KEYS[1]) == 0 then
  if not make_place(KEYS[4], tonumber(ARGV[10]), ARGV[14], ARGV[16], drop_room) then return {'full'} end
  redis.call('HSET', KEYS[1], 'epoch', ARGV[9], 'seq', 0, 'evt', 0, 'joins', 0)
end
redis.call('ZADD', KEYS[4], IN_USE, ARGV[1])
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

/// KEYS: room, members, presence, active rooms, rooms index.
/// ARGV: room, session, expected record, leave frame, presence on, presence entry, channel,
/// expired before (ms; '' for any), now (ms).
/// Removes the member if its record is still the expected one (and, for an expiry, its lease
/// has run out); returns 1 if it did. The last one out makes the room idle from now.
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
if redis.call('HLEN', KEYS[2]) == 0 then
  redis.call('SREM', KEYS[4], ARGV[1])
  if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('ZADD', KEYS[5], ARGV[9], ARGV[1]) end
end
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

/// KEYS: room, log, members, rooms index.
/// ARGV: room, frame before seq, frame after seq, history size, now (ms), history TTL (ms, '0'
/// for none), channel, mode ('m' a member, 's' the server), session, node, conn, new epoch,
/// max rooms, history bytes, idle cutoff (ms; '' for no idle TTL), key prefix.
/// The server's publish creates the room as a join does; a publish to an empty room is
/// activity (it stays idle, from now).
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
else
  expire_one(KEYS[4], ARGV[1], ARGV[15], ARGV[16], drop_room)
  if redis.call('EXISTS', KEYS[1]) == 0 then
    if not make_place(KEYS[4], tonumber(ARGV[13]), ARGV[5], ARGV[16], drop_room) then return {'full'} end
    redis.call('HSET', KEYS[1], 'epoch', ARGV[12], 'seq', 0, 'evt', 0, 'joins', 0)
  end
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
  append_trimmed(KEYS[1], 'hbytes', KEYS[2], seq .. '-0', frame, size, budget, 't', ARGV[5])
else
  redis.call('XADD', KEYS[2], 'MAXLEN', 0, seq .. '-0', 'f', frame, 't', ARGV[5])
end
if ARGV[6] ~= '0' then redis.call('PEXPIRE', KEYS[2], ARGV[6]) end
redis.call('PUBLISH', ARGV[7], ns('r') .. ns(ARGV[1]) .. ns(evt) .. ns('') .. ns(frame))
local members = redis.call('HLEN', KEYS[3])
if members == 0 then redis.call('ZADD', KEYS[4], ARGV[5], ARGV[1]) else redis.call('ZADD', KEYS[4], IN_USE, ARGV[1]) end
return {'ok', seq, string.format('%d', members), evt}
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

/// KEYS: doc, docs index. ARGV: new epoch, max docs, doc name, now (ms), in use until (ms: a
/// lease ahead), idle cutoff (ms; '' for no idle TTL), key prefix.
/// Creates the document if needed (a document idle since the cutoff is removed first; at the
/// bound the longest-unused one makes room) and marks it in use;
/// `{'full'}` or `{'ok', epoch, rev, ver, body}`.
pub static DOC_OPEN: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
expire_one(KEYS[2], ARGV[3], ARGV[6], ARGV[7], drop_doc)
if redis.call('EXISTS', KEYS[1]) == 0 then
  if not make_place(KEYS[2], tonumber(ARGV[2]), ARGV[4], ARGV[7], drop_doc) then return {'full'} end
  redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'rev', 0, 'ver', 1, 'body', '{}')
end
redis.call('ZADD', KEYS[2], 'GT', ARGV[5], ARGV[3])
local d = redis.call('HMGET', KEYS[1], 'epoch', 'rev', 'ver', 'body')
return {'ok', d[1], d[2], d[3], d[4]}
"#,
    )
});

/// KEYS: doc, log, origins, docs index.
/// ARGV: expected version, new epoch, new rev, new body ('' unchanged), origin ('' none),
/// origin record, op frame ('' none), ops kept, max docs, doc name, channel, now (ms), idle
/// cutoff (ms; '' for no idle TTL), key prefix, log bytes.
/// Writes an op's outcome if nothing else was written since the version read: `'retry'`,
/// `'full'` or `'ok'`. A document idle since the cutoff is removed first (then the version
/// read is gone: the op is decided again, on the new document). The op log is trimmed by count
/// and by bytes (the document's `lbytes` counts the frames it holds; an op alone over the
/// bytes empties it, so a `sync` from before gets a snapshot).
pub static DOC_COMMIT: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
expire_one(KEYS[4], ARGV[10], ARGV[13], ARGV[14], drop_doc)
local ver = redis.call('HGET', KEYS[1], 'ver')
if (ver or '0') ~= ARGV[1] then return 'retry' end
if not ver then
  if not make_place(KEYS[4], tonumber(ARGV[9]), ARGV[12], ARGV[14], drop_doc) then return 'full' end
  redis.call('HSET', KEYS[1], 'epoch', ARGV[2], 'rev', 0, 'body', '{}')
end
redis.call('HINCRBY', KEYS[1], 'ver', 1)
redis.call('ZADD', KEYS[4], 'GT', ARGV[12], ARGV[10])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'rev', ARGV[3], 'body', ARGV[4]) end
if ARGV[5] ~= '' then redis.call('HSET', KEYS[3], ARGV[5], ARGV[6]) end
if ARGV[7] ~= '' then
  local frame = ARGV[7]
  local size = tonumber(ARGV[8])
  local budget = tonumber(ARGV[15])
  if size > 0 and #frame <= budget then
    append_trimmed(KEYS[1], 'lbytes', KEYS[2], ARGV[3] .. '-0', frame, size, budget)
  else
    redis.call('DEL', KEYS[2])
    redis.call('HSET', KEYS[1], 'lbytes', 0)
  end
  redis.call('PUBLISH', ARGV[11], ns('d') .. ns(ARGV[10]) .. ns(ARGV[3]) .. ns(frame))
end
return 'ok'
"#,
    )
});

/// KEYS: rooms index, docs index. ARGV: key prefix, room cutoff (ms; '' for no idle TTL),
/// document cutoff (ms; ''), most removed of each.
/// Removes the rooms and documents idle since their cutoff, at most a batch of each (the rest
/// wait for the next sweep); returns how many it removed.
pub static SWEEP: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local removed = 0
local function sweep(idx, cutoff, drop)
  if cutoff == '' then return end
  for _, name in ipairs(redis.call('ZRANGEBYSCORE', idx, '-inf', cutoff, 'LIMIT', 0, tonumber(ARGV[4]))) do
    drop(ARGV[1], name)
    redis.call('ZREM', idx, name)
    removed = removed + 1
  end
end
sweep(KEYS[1], ARGV[2], drop_room)
sweep(KEYS[2], ARGV[3], drop_doc)
return removed
"#,
    )
});
