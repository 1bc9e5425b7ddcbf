// Package consumers holds three deduplicating consumers ported from
// production libraries, written as a user of idemsim writes them: in a
// module of their own, against idemsim's public store interfaces only,
// each registered as a strategies.Strategy.
//
//   - inbox.go: a transactional inbox as MassTransit's Entity Framework
//     inbox keeps it: in one transaction, read the message's inbox row
//     FOR UPDATE, skip if it was consumed, else insert it, run the
//     consumer, mark it consumed, commit.
//   - jdbcrepo.go: Apache Camel's idempotent consumer over its JDBC
//     message id repository (eager, removeOnFailure): add the id in a
//     transaction of its own, process, delete the row when processing
//     fails.
//   - redsynclock.go: a consumer that serialises the copies of an event
//     with a redsync mutex (SET NX PX with a random token, released by a
//     delete-if-equal script) and remembers processed events in a Redis
//     key.
//
// Each description's Expected row was written before the row was
// measured; the tests hold each consumer to it in the simulator
// (idemsimtest.ExactlyOnce) and to its promises (idemsimtest.Conformance),
// and cmd/idemsim is an idemsim command with the three added.
package consumers
