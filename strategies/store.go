package strategies

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
	"unicode"
	"unicode/utf8"
)

// EventID identifies one business event. Copies of an event published twice
// share its EventID; that is what deduplication keys on.
type EventID uint64

// Event is one business event: add Amount to the balance of Account. It must
// take effect exactly once, however often the broker delivers it.
//
// On the log broker a copy also carries where it was read: its partition
// (numbered from 1; the event's account decides it) and offset (from 0),
// which offset-in-db stores. On the queue both are 0.
type Event struct {
	ID      EventID
	Account int
	Amount  int64

	Partition int
	Offset    int64
}

// MarkStore is a shared store of "seen" marks with expiry, as Redis offers.
// Marks are keyed by event id; ttl is how long a mark lives (0 means forever).
type MarkStore interface {
	// SetNX sets the mark of id unless it exists (SET key NX PX ttl) and
	// reports whether this call set it.
	SetNX(ctx context.Context, id EventID, ttl time.Duration) (bool, error)
	// Exists reports whether the mark of id exists (GET key).
	Exists(ctx context.Context, id EventID) (bool, error)
	// Set sets the mark of id unconditionally (SET key PX ttl).
	Set(ctx context.Context, id EventID, ttl time.Duration) error
}

// Ledger is the database that holds the business effect and, for the
// database strategies, the processed-ids table with its unique constraint.
type Ledger interface {
	// Begin starts a transaction.
	Begin(ctx context.Context) (Tx, error)
	// InsertApply inserts e's id into the processed-ids table if it is
	// absent and applies e's effect only if it inserted it, atomically,
	// in one statement and one round trip (its own transaction). It
	// reports whether it applied. As with InsertProcessed, an id another
	// open transaction inserted makes it wait for that transaction. An
	// error may hide a commit.
	InsertApply(ctx context.Context, e Event) (bool, error)
}

// KV is a shared key-value store with expiry, as Redis offers: any key (see
// ValidateKey), string values, SET with a condition and a TTL on the
// store's clock, GET and DEL; the compare-and-act calls that Redis lock
// libraries make with a Lua script; and sets of strings.
//
// A key holds a string or a set, as in Redis: a string call on a set's key,
// or a set call on a string's key, fails with ErrWrongType.
type KV interface {
	// Get returns key's value, and whether key exists.
	Get(ctx context.Context, key string) (value string, found bool, err error)
	// Set sets key to value if cond allows (SET key value [NX|XX] [PX ttl]),
	// with a TTL (0: no expiry), and reports whether it set it.
	Set(ctx context.Context, key, value string, cond Cond, ttl time.Duration) (bool, error)
	// Del deletes key and reports whether it existed.
	Del(ctx context.Context, key string) (bool, error)

	// DelIfEqual deletes key if its value is value, atomically, and
	// reports whether it deleted it: the token-checked release of a lock
	// (if redis.call("GET", key) == value then redis.call("DEL", key)).
	DelIfEqual(ctx context.Context, key, value string) (bool, error)
	// SetIfEqual sets key to value with a TTL (0: no expiry) if its value
	// is old, atomically, and reports whether it set it: the
	// token-checked extension of a lease.
	SetIfEqual(ctx context.Context, key, old, value string, ttl time.Duration) (bool, error)

	// SAdd adds member to the set at key (SADD) and reports whether it was
	// not there. A ttl > 0 then gives the whole set that TTL (PEXPIRE, in
	// the same transaction); 0 leaves the set's expiry as it is (a new set
	// does not expire).
	SAdd(ctx context.Context, key, member string, ttl time.Duration) (bool, error)
	// SIsMember reports whether member is in the set at key (SISMEMBER).
	SIsMember(ctx context.Context, key, member string) (bool, error)
	// SRem removes member from the set at key (SREM) and reports whether
	// it was there. A set whose last member goes is deleted.
	SRem(ctx context.Context, key, member string) (bool, error)
}

// Cond is the condition of a KV Set.
type Cond uint8

// The conditions of a KV Set.
const (
	Always    Cond = iota // SET: set whatever is there
	IfAbsent              // SET NX: set only if the key does not exist
	IfPresent             // SET XX: set only if the key exists
)

// Memory is a consumer instance's own memory of events, as a strategy
// keeps in a Go map or set (local-cache): it lives as long as the
// incarnation of the instance that was given it (a crash or a restart
// empties it), and no other instance sees it. Its calls are no store
// calls: they take no round trip, fail never, and are not points where a
// runner interleaves another instance or injects a fault. A runner records
// each call (run.Memory), so that a trace shows what the memory held when
// the handler asked, and explain tells it from the records. A strategy
// that keeps its memory in a map of its own runs the same, but the trace
// does not show it (see Teaching.Remembers).
//
// Every runner gives each incarnation of an instance its own empty Memory
// (Deps.Memory); New gives a plain in-process one where a runner gives
// none. It is safe for use by one handler at a time, as an instance
// handles one delivery at a time.
type Memory interface {
	// Contains reports whether the memory holds id.
	Contains(id EventID) bool
	// Add puts id into the memory.
	Add(id EventID)
	// Remove takes id out of the memory.
	Remove(id EventID)
}

// Clock tells a strategy the time of the run.
type Clock interface {
	Now() time.Time
}

// Limits of KV keys and values: enough for any deduplication record, small
// enough to show in a trace line.
const (
	MaxKeyLen   = 200
	MaxValueLen = 1000
)

// ErrBadKey and ErrBadValue are what ValidateKey and ValidateValue return:
// misuse of a KV store is an error, never a panic.
var (
	ErrBadKey   = errors.New("strategies: bad key")
	ErrBadValue = errors.New("strategies: bad value")
)

// ErrWrongType is what a KV call returns on a key that holds the other kind
// of value (a string call on a set, a set call on a string), as Redis's
// WRONGTYPE error.
var ErrWrongType = errors.New("strategies: WRONGTYPE: the key holds the other kind of value (a string or a set)")

// ValidateKey checks a KV key: 1 to MaxKeyLen bytes of UTF-8 with no
// control characters, so that every backend stores it as it is and a trace
// shows it.
func ValidateKey(key string) error {
	if key == "" || len(key) > MaxKeyLen || !printable(key) {
		return fmt.Errorf("%w %q: want 1 to %d bytes of UTF-8 with no control characters", ErrBadKey, key, MaxKeyLen)
	}
	return nil
}

// ValidateValue checks a KV value: at most MaxValueLen bytes of UTF-8 with
// no control characters.
func ValidateValue(v string) error {
	if len(v) > MaxValueLen || !printable(v) {
		return fmt.Errorf("%w %q: want at most %d bytes of UTF-8 with no control characters", ErrBadValue, v, MaxValueLen)
	}
	return nil
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// ErrBadOffset is returned, before any round trip, for a partition or an
// offset of the log's offsets table that no backend stores as it is.
var ErrBadOffset = errors.New("strategies: bad partition or offset")

// ValidateOffset checks the arguments of an offsets-table call: a
// partition numbered from 1 that fits PostgreSQL's int, and offsets from
// 0, as the log numbers them.
func ValidateOffset(partition int, offsets ...int64) error {
	if partition < 1 || partition > math.MaxInt32 {
		return fmt.Errorf("%w: partition %d: want 1 to %d", ErrBadOffset, partition, math.MaxInt32)
	}
	for _, o := range offsets {
		if o < 0 {
			return fmt.Errorf("%w: offset %d: want 0 or more", ErrBadOffset, o)
		}
	}
	return nil
}

// Tx is one database transaction. Nothing it does is visible to others, or
// durable, before Commit returns without error; a transaction whose client
// vanishes before commit leaves nothing behind. A Commit that returns an
// error may nevertheless have committed (its reply may have been lost).
type Tx interface {
	// InsertProcessed inserts id into the processed-ids table, whose unique
	// constraint makes a second insert of the same id fail. It reports
	// false if id is already there. As in PostgreSQL, if another open
	// transaction inserted id, the call waits until that one ends.
	InsertProcessed(ctx context.Context, id EventID) (bool, error)
	// Apply applies the business effect of e: its amount is added to the
	// account's balance and a ledger row records that e applied it.
	Apply(ctx context.Context, e Event) error

	// ReadProcessed reads id's row of the processed-ids table as SELECT
	// state ... FOR UPDATE does under READ COMMITTED: it reports the row's
	// state and whether the row exists, and locks the row until the
	// transaction ends. If another open transaction holds the row's lock
	// (it read it this way, updated or deleted it), the call waits until
	// that one ends, then reads the row as that one left it. A row that
	// another open transaction inserted is not there yet: the call neither
	// sees it nor waits for it. A row InsertProcessed inserts has the
	// state "".
	ReadProcessed(ctx context.Context, id EventID) (state string, found bool, err error)
	// DeleteProcessed deletes id's row, waiting on its lock as
	// ReadProcessed does, and reports whether there was one.
	DeleteProcessed(ctx context.Context, id EventID) (bool, error)
	// UpdateProcessed sets the state of id's row to state if it is old
	// (UPDATE ... SET state = $state WHERE id = $id AND state = $old),
	// waiting on its lock as ReadProcessed does, and reports whether the
	// row matched: a compare-and-set on a version or a status.
	UpdateProcessed(ctx context.Context, id EventID, old, state string) (bool, error)

	// ReadOffset and AdvanceOffset refuse a partition or offset that
	// ValidateOffset refuses, before any round trip.
	//
	// ReadOffset reads the stored next offset of a partition of the log
	// (numbered from 1) from the offsets table, as SELECT next_offset ...
	// FOR UPDATE does under READ COMMITTED: 0 if the partition has no row.
	// It locks an existing row until the transaction ends, waiting, as
	// ReadProcessed does, behind another open transaction that holds the
	// row's lock, then reading the row as that one left it; a row another
	// open transaction inserted is not there yet, neither seen nor waited
	// for.
	ReadOffset(ctx context.Context, partition int) (next int64, err error)
	// AdvanceOffset sets the partition's stored next offset to next if it
	// is expect now, and reports whether it did; a missing row counts as
	// 0, and is inserted. In PostgreSQL it is, for expect 0, INSERT ... ON
	// CONFLICT (partition) DO UPDATE SET next_offset = $next WHERE
	// next_offset = 0, which waits for another open transaction that
	// inserted the row or holds its lock, and locks the row it finds even
	// when it does not match; for any other expect, UPDATE ... SET
	// next_offset = $next WHERE partition = $p AND next_offset = $expect,
	// which, as UpdateProcessed, waits for a lock only if the committed
	// row matches, then checks again on the row as its holder left it.
	// The offset of the record a consumer applies in the same transaction
	// is the fence that makes a replay, or a zombie's late copy, find the
	// offset already passed.
	AdvanceOffset(ctx context.Context, partition int, expect, next int64) (bool, error)
	// Commit commits the transaction.
	Commit(ctx context.Context) error
	// Rollback abandons the transaction. It is safe to call after a failed
	// statement or a failed Commit.
	Rollback(ctx context.Context) error
}

// ErrUnknownOutcome wraps errors after which the caller cannot know whether
// the call took effect: a timeout, a lost reply, a crash in flight.
var ErrUnknownOutcome = errors.New("strategies: outcome unknown")
