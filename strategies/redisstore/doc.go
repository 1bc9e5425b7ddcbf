// Package redisstore implements strategies.MarkStore on Redis through
// go-redis v9's redis.UniversalClient, so a single server, a Sentinel setup
// or a Redis Cluster works unchanged.
//
// Marks are keys "<prefix>:mark:<event id>" holding "1", set with SET NX PX
// (claim), SET PX, and read with EXISTS. Flush deletes this prefix's keys and
// nothing else.
package redisstore
