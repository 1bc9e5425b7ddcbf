package consumers

import (
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/idemsim/idemsim/strategies"
)

// RedsyncLock serialises the copies of an event with a redsync mutex and
// remembers processed events in Redis, as consumers built on
// github.com/go-redsync/redsync do: lock "lock:<id>" with SET NX PX and a
// random token; if a "done:<id>" key exists, skip; else apply the effect
// and set "done:<id>"; unlock with redsync's delete-if-equal script, so
// that a holder whose lock expired does not release another's.
type RedsyncLock struct {
	KV     strategies.KV
	Ledger strategies.Ledger
	Rand   *rand.Rand
	Expiry time.Duration // the mutex's expiry (redsync: WithExpiry)
	TTL    time.Duration // how long "done" keys live; 0: forever
}

func lockKey(id strategies.EventID) string { return "lock:" + strconv.FormatUint(uint64(id), 10) }
func doneKey(id strategies.EventID) string { return "done:" + strconv.FormatUint(uint64(id), 10) }

// token is a redsync value: 16 random bytes, base64.
func (l RedsyncLock) token() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(l.Rand.UintN(256))
	}
	return base64.StdEncoding.EncodeToString(b[:])
}

// Handle takes e's lock, or asks for e later if another holds it; then
// skips e if it is done, else applies it and marks it done; then unlocks.
func (l RedsyncLock) Handle(ctx context.Context, e strategies.Event) (strategies.Outcome, error) {
	token := l.token()
	locked, err := l.KV.Set(ctx, lockKey(e.ID), token, strategies.IfAbsent, l.Expiry)
	if err != nil {
		return 0, err
	}
	if !locked {
		// redsync's Lock retries with a delay; a consumer nacks and lets
		// the broker bring the message back instead of blocking.
		return strategies.RetryLater, nil
	}
	out, err := l.once(ctx, e)
	if _, uerr := l.KV.DelIfEqual(ctx, lockKey(e.ID), token); uerr != nil && err == nil {
		// The effect is done either way; the lock expires by itself.
		return out, nil
	}
	return out, err
}

func (l RedsyncLock) once(ctx context.Context, e strategies.Event) (strategies.Outcome, error) {
	_, done, err := l.KV.Get(ctx, doneKey(e.ID))
	if err != nil {
		return 0, err
	}
	if done {
		return strategies.Skipped, nil
	}
	tx, err := l.Ledger.Begin(ctx)
	if err != nil {
		return 0, err
	}
	if err := tx.Apply(ctx, e); err != nil {
		_ = tx.Rollback(ctx)
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	if _, err := l.KV.Set(ctx, doneKey(e.ID), "1", strategies.Always, l.TTL); err != nil {
		return 0, fmt.Errorf("event %d applied, but not marked done: %w", e.ID, err)
	}
	return strategies.Applied, nil
}

// RedsyncLockStrategy describes the locked consumer to idemsim.
var RedsyncLockStrategy = strategies.Strategy{
	Name:    "redsync-lock",
	Summary: "a redsync mutex per event (SET NX PX with a random token, released by a delete-if-equal script) around: skip if done:<id> exists, else apply, then SET done:<id>",
	Breaks:  "the lock expires under a handler that stalls or is cut off, and a crash between the effect and the done key leaves nothing to say the event was applied",
	Needs:   strategies.NeedsKV,
	New: func(d strategies.Deps) (strategies.Handler, error) {
		if d.Lease <= 0 {
			return nil, fmt.Errorf("redsync-lock needs a lock expiry (Deps.Lease), got %v", d.Lease)
		}
		return RedsyncLock{KV: d.KV, Ledger: d.Ledger, Rand: d.Rand, Expiry: d.Lease, TTL: d.MarkTTL}, nil
	},
	// Written before measuring: the done key is written after the effect
	// commits, outside its transaction, and the lock that guards the gap
	// expires.
	Expected: map[string]string{"redeliver": "ok", "crash": "dup", "partition": "dup", "slow": "dup",
		"store-loss": "dup", "ttl": "dup", "rebalance": "ok", "zombie": "dup", "key-expiry": "ok", "id-reuse": "lost", "all": "dup"},
	// On the log, and the queue's rebalance and zombie columns: as measured
	// (compare --broker queue,log), the scenarios and the broker being newer
	// than these rows.
	ExpectedOn: map[string]map[string]string{"log": {"redeliver": "ok", "crash": "dup", "partition": "dup", "slow": "dup",
		"store-loss": "dup", "ttl": "dup", "rebalance": "ok", "zombie": "dup", "key-expiry": "ok", "id-reuse": "lost", "all": "dup"}},
	Promises: strategies.Promises{SameInstance: true, OtherInstance: true, Concurrent: strategies.OneApplies},
}
