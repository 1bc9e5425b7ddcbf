package strategies

import (
	"context"
	"strconv"
	"time"
)

// The values of a RedisLease record.
const (
	LeaseInProgress = "INPROGRESS"
	LeaseCompleted  = "COMPLETED"
)

// RedisLease keeps an idempotency record per event in Redis, as AWS Lambda
// Powertools' idempotency utility does: SET key INPROGRESS NX PX lease
// takes the event; a record that says COMPLETED means skip; one that says
// INPROGRESS means another instance holds it, so retry later, having done
// nothing; once the effect committed, SET key COMPLETED PX ttl.
//
// It never loses an event: a holder that crashes keeps the record
// INPROGRESS only until its lease expires. But a lease that expires while
// its holder's effect did commit (a crash after the commit, a partition, a
// stall longer than the lease) lets another instance take the event and
// apply it again, and so does a Redis that forgets the record.
type RedisLease struct {
	KV     KV
	Ledger Ledger
	Lease  time.Duration // how long an INPROGRESS record holds the event
	TTL    time.Duration // how long a COMPLETED record lives; 0: forever
}

// LeaseKey is the key of event id's record.
func LeaseKey(id EventID) string { return "lease:" + strconv.FormatUint(uint64(id), 10) }

// Handle takes e's lease, applies e, and completes the record.
func (s RedisLease) Handle(ctx context.Context, e Event) (Outcome, error) {
	key := LeaseKey(e.ID)
	took, err := s.KV.Set(ctx, key, LeaseInProgress, IfAbsent, s.Lease)
	if err != nil {
		return 0, err
	}
	if !took {
		v, found, err := s.KV.Get(ctx, key)
		switch {
		case err != nil:
			return 0, err
		case found && v == LeaseCompleted:
			return Skipped, nil
		default:
			// Another instance holds the lease, or it just ended: come
			// back later.
			return RetryLater, nil
		}
	}
	if err := applyOnce(ctx, s.Ledger, e); err != nil {
		return 0, err
	}
	// The effect is committed whatever this SET does: a failed SET only
	// leaves the record INPROGRESS until the lease expires.
	_, _ = s.KV.Set(ctx, key, LeaseCompleted, Always, s.TTL)
	return Applied, nil
}

func init() {
	MustRegister(Strategy{
		Name:    "redis-lease",
		Order:   70,
		Summary: "as AWS Powertools' idempotency: `SET key INPROGRESS NX PX lease`; COMPLETED means skip, INPROGRESS means retry later; after the effect, `SET key COMPLETED PX ttl`",
		Breaks:  "it never loses an event, but a lease that expires while its holder's effect committed lets a second instance apply it again, and so does a Redis that forgets the record",
		Needs:   NeedsKV,
		New: func(d Deps) (Handler, error) {
			return RedisLease{KV: d.KV, Ledger: d.Ledger, Lease: d.Lease, TTL: d.MarkTTL}, nil
		},
		Expected: map[string]string{"redeliver": "ok", "crash": "dup", "partition": "dup", "slow": "dup",
			"store-loss": "dup", "ttl": "dup", "rebalance": "ok", "zombie": "dup", "key-expiry": "ok", "id-reuse": "lost", "all": "dup"},
		// Measured: compare --broker log (200 seeds).
		ExpectedOn: map[string]map[string]string{"log": {"redeliver": "ok", "crash": "dup", "partition": "dup", "slow": "dup",
			"store-loss": "ok", "ttl": "dup", "rebalance": "ok", "zombie": "ok", "key-expiry": "ok", "id-reuse": "lost", "all": "dup"}},
		Teaching: Teaching{
			Mark:    "lease",
			MarkKey: LeaseKey,
			Marked:  "took the lease on event {event}",
			Calls: map[string]CallWords{
				"SET NX": {Name: "SET NX of the lease", Does: "takes the lease on event {event} with SET {key} {value} NX PX {ttl}",
					Fails: "tries to take the lease on event {event} with SET {key} {value} NX"},
				"GET": {Name: "GET of the record", Does: "reads event {event}'s record with GET {key}"},
				"SET": {Name: "COMPLETED write", Does: "marks event {event} done with SET {key} {value} PX {ttl}"},
			},
			Values: map[string]string{"INPROGRESS": "a handler holds the lease", "COMPLETED": "the event is done"},
			Why: map[string]string{
				"dup:lease-expired": "redis-lease's lease ends with its TTL, whether or not the handler that took it has finished:",
			},
		},
		Promises: Promises{SameInstance: true, OtherInstance: true, Concurrent: OneApplies, AfterFailure: RetryLater},
	})
}
