package strategies

import (
	"context"
	"strconv"
	"time"
)

// RedisRelease claims the event in Redis and releases the claim when the
// effect fails, as Apache Camel's eager idempotent consumer with
// removeOnFailure does: SET key NX PX ttl to claim; process; DEL key if
// processing failed, so that a redelivery can try again.
//
// A claim that outlives its crashed holder loses the event, as with redis.
// And a failure is not always a failure: a commit whose reply timed out may
// have committed, and releasing its claim lets the next copy apply the
// event again.
type RedisRelease struct {
	KV     KV
	Ledger Ledger
	TTL    time.Duration // how long a claim lives; 0: forever
}

// ClaimKey is the key of event id's claim.
func ClaimKey(id EventID) string { return "claim:" + strconv.FormatUint(uint64(id), 10) }

// Handle claims e, applies it, and releases the claim if that failed.
func (s RedisRelease) Handle(ctx context.Context, e Event) (Outcome, error) {
	key := ClaimKey(e.ID)
	claimed, err := s.KV.Set(ctx, key, "1", IfAbsent, s.TTL)
	if err != nil {
		return 0, err
	}
	if !claimed {
		return Skipped, nil
	}
	if err := applyOnce(ctx, s.Ledger, e); err != nil {
		_, _ = s.KV.Del(ctx, key) // removeOnFailure
		return 0, err
	}
	return Applied, nil
}

func init() {
	MustRegister(Strategy{
		Name:    "redis-release",
		Order:   80,
		Summary: "as Apache Camel's eager idempotent consumer with removeOnFailure: `SET key NX PX ttl` to claim, process, `DEL key` when processing fails",
		Breaks:  "a claim that outlives its crashed holder loses the event; a release after a commit whose reply was lost lets a redelivery apply it again",
		Needs:   NeedsKV,
		New: func(d Deps) (Handler, error) {
			return RedisRelease{KV: d.KV, Ledger: d.Ledger, TTL: d.MarkTTL}, nil
		},
		Expected: map[string]string{"redeliver": "ok", "crash": "lost", "partition": "dup+lost", "slow": "lost",
			"store-loss": "dup", "ttl": "dup", "rebalance": "ok", "zombie": "lost", "key-expiry": "ok", "id-reuse": "lost", "all": "dup+lost"},
		// Measured: compare --broker log (200 seeds).
		ExpectedOn: map[string]map[string]string{"log": {"redeliver": "ok", "crash": "lost", "partition": "dup+lost", "slow": "ok",
			"store-loss": "ok", "ttl": "dup", "rebalance": "ok", "zombie": "ok", "key-expiry": "ok", "id-reuse": "lost", "all": "dup+lost"}},
		Teaching: Teaching{
			Mark:    "claim",
			MarkKey: ClaimKey,
			Marked:  "claimed event {event} in Redis",
			Calls: map[string]CallWords{
				"SET NX": {Name: "SET NX (the claim)", Does: "claims event {event} in Redis with SET {key} NX PX {ttl}",
					Fails: "tries to claim event {event} in Redis with SET {key} NX"},
				"DEL": {Name: "DEL (the release)", Does: "releases its claim on event {event} with DEL {key}, since processing failed"},
			},
			Values: map[string]string{"1": "the claim"},
			Why: map[string]string{
				"lost":         "redis-release takes the claim before it applies the effect, and a failed effect leaves the claim in place until its handler releases it: a handler that crashes never does, and one that stalls does it too late.",
				"dup:released": "redis-release releases its claim when processing fails, but a failure it sees is not always a failure: a Commit whose reply was lost may have committed.",
			},
		},
		Promises: Promises{SameInstance: true, OtherInstance: true, Concurrent: OneApplies},
	})
}
