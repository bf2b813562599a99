/**
 * The Lua scripts of the Redis store. Each touches one key, so that every one of them runs on a
 * Redis Cluster as well as on one Redis. Times that Redis compares (index scores, expiries) come from
 * Redis's own clock (TIME), never from the app's.
 */

/**
 * Conditional write of a whole record: KEYS[1] session; ARGV expected version, ttl, then the hash's
 * field/value pairs. A session is a hash: `v`, `c`, `t`, `u`, `r` (only when remembered), and one
 * `d:<key>` field per data key holding that value's JSON as the app wrote it. Whatever was under the
 * key goes first (an older record, or garbage without a version); a new key costs one HLEN. The pairs
 * go in HSETs of at most 7,000 arguments (Lua's `unpack` has a limit near 8,000).
 */
export const SET_IF_VERSION = `
local exists = redis.call('HLEN', KEYS[1]) > 0
local current = exists and redis.call('HGET', KEYS[1], 'v') or nil
if (tonumber(current) or 0) ~= tonumber(ARGV[1]) then return false end
local previous = ''
if exists then
  previous = redis.call('HGET', KEYS[1], 'u') or ''
  redis.call('DEL', KEYS[1])
end
for i = 3, #ARGV, 7000 do redis.call('HSET', KEYS[1], unpack(ARGV, i, math.min(i + 6999, #ARGV))) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {previous}
`

/**
 * Key-level merge into an existing record, atomically and without a version check, so that
 * concurrent requests changing different keys never retry: KEYS[1] session; ARGV lastSeenAt, userId
 * (or the one-byte marker for "unchanged"), ttl, then field/value pairs, an empty value deleting
 * the field. Returns {new version, previous userId}, or nothing when the session is gone. Every
 * record has a `u` field (empty without a user): reading it is the existence check. The changes go
 * in one HDEL and one HSET (in chunks of 7,000 arguments, below Lua's `unpack` limit).
 */
export const MERGE = `
local previous = redis.call('HGET', KEYS[1], 'u')
if not previous then return false end
local fields = {'t', ARGV[1]}
if ARGV[2] ~= '\0' then fields[3] = 'u'; fields[4] = ARGV[2] end
local gone = {}
for i = 4, #ARGV, 2 do
  if ARGV[i + 1] == '' then gone[#gone + 1] = ARGV[i] else fields[#fields + 1] = ARGV[i]; fields[#fields + 1] = ARGV[i + 1] end
end
for i = 1, #gone, 7000 do redis.call('HDEL', KEYS[1], unpack(gone, i, math.min(i + 6999, #gone))) end
for i = 1, #fields, 7000 do redis.call('HSET', KEYS[1], unpack(fields, i, math.min(i + 6999, #fields))) end
local version = redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {version, previous}
`

/** Touch: KEYS[1] session; ARGV lastSeenAt, ttl. Moves lastSeenAt and the TTL, nothing else. */
export const TOUCH = `
local user = redis.call('HGET', KEYS[1], 'u')
if not user then return false end
redis.call('HSET', KEYS[1], 't', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {user}
`

/** Destroy: KEYS[1] session. Deletes whatever is there (garbage included); returns {existed, userId}. */
export const DESTROY = `
local kind = redis.call('TYPE', KEYS[1]).ok
if kind == 'none' then return {0, ''} end
local user = ''
if kind == 'hash' then user = redis.call('HGET', KEYS[1], 'u') or '' end
redis.call('DEL', KEYS[1])
return {1, user}
`

/** Index add: KEYS[1] user index (a sorted set scored by expiry); ARGV id, ttl. */
export const INDEX_ADD = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], last[2])
return 1
`

/** Index remove: KEYS[1] user index; ARGV ids. The key goes when it empties. */
export const INDEX_REMOVE = `
redis.call('ZREM', KEYS[1], unpack(ARGV))
return redis.call('ZCARD', KEYS[1])
`

/** Index list: KEYS[1] user index. The ids whose expiry is still ahead, by Redis's clock. */
export const INDEX_LIST = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
`

/** Generation bump: KEYS[1] generation; ARGV ttl. */
export const BUMP = `
local value = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return value
`
