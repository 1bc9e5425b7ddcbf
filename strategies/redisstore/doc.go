// Package redisstore implements strategies.MarkStore on Redis through
// go-redis v9's redis.UniversalClient, so a single server, a Sentinel setup
// or a Redis Cluster works unchanged.
//
// Marks are keys holding "1", set with SET NX PX (claim), SET PX, and read
// with EXISTS. New keys them "<prefix>:mark:<event id>"; NewRun keys one
// run's marks "<prefix>:run:<run id>:mark:<event id>", so that runs never
// see each other's marks and their keys can be told from anyone else's.
// Delete removes given marks without scanning the keyspace; Flush removes
// every mark under the prefix; Clean removes the keys that killed runs left
// behind, and only keys of that exact form.
//
// KV (NewKV, NewRunKV) is a strategies.KV under "<prefix>:kv:" or
// "<prefix>:run:<run id>:kv:": GET, SET [NX|XX] [PX], DEL; DelIfEqual and
// SetIfEqual as Lua scripts (GET, compare, then DEL or SET [PX]), which
// Redis runs atomically; sets with SADD (with a TTL, SADD and PEXPIRE in
// one script), SISMEMBER and SREM. Redis's WRONGTYPE reply is returned as
// strategies.ErrWrongType. A KV remembers the keys it writes, sets
// included, so that DeleteWritten deletes them without a SCAN; Clean finds
// a killed run's keys of either kind.
//
// Give New a client with MaxRetries: -1. go-redis retries a SET NX whose
// reply timed out; if the first one took effect, the retry answers "not set"
// and a claim that was ours is reported, with no error, as someone else's
// (see New and TestSetNXRetryAfterLostReply).
package redisstore
