// Package tcpproxy is a loopback TCP proxy that can cut its connections off,
// used by idemsim's real fault runs to inject network partitions between a
// consumer and a real Redis or PostgreSQL server. The simulator (package sim)
// models partitions in its own virtual network; this package gives the real
// backends the same fault: an instance is cut off from the store for a while,
// then heals, and calls in flight time out with an unknown outcome.
//
// Start listens on 127.0.0.1 and forwards every accepted connection to one
// target address. Point the client at Addr instead of the server.
//
// Cut partitions every connection, existing and new, and Heal ends the
// partition. A cut drops nothing, like a real partition under TCP
// retransmission: the bytes the proxy has already read from one side (at most
// one buffer per direction per connection) are held, the rest stay in the
// kernel's socket buffers, and a close or reset from either side is held as
// well, so the peer notices it only after Heal. A connection accepted while
// cut is not dialed through to the target until Heal, as if its SYN got
// through but nothing after it. The client's own timeouts therefore fire
// while the partition lasts.
//
// Ordering contract: within one connection and one direction, bytes and the
// final close are delivered after Heal in the order they were sent; nothing
// is promised across connections. Cut does not interrupt a write already
// under way: a chunk that passed the gate before Cut still arrives, as a
// packet already on the wire would.
//
// CloseConns closes both sides of every current connection at once, whether
// cut or not, as when a crashed client's sockets are torn down; to model a
// client that closes during a partition, close the client's own connection
// instead, and the close is held until Heal. Close stops listening, closes
// every connection and returns only when all of the proxy's goroutines have
// ended.
package tcpproxy
