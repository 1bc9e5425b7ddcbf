// Package redisstore implements strategies.MarkStore on Redis through
// go-redis v9's redis.UniversalClient, so a single server, a Sentinel setup
// or a Redis Cluster works unchanged.
//
// Marks are keys "<prefix>:mark:<event id>" holding "1", set with SET NX PX
// (claim), SET PX, and read with EXISTS. Flush deletes this prefix's keys and
// nothing else.
//
// Give New a client with MaxRetries: -1. go-redis retries a SET NX whose
// reply timed out; if the first one took effect, the retry answers "not set"
// and a claim that was ours is reported, with no error, as someone else's
// (see New and TestSetNXRetryAfterLostReply).
package redisstore
