package strategies

import "context"

// LocalCache remembers processed ids in the memory of one consumer
// instance: if seen, skip; else process, then remember. Another instance
// cannot see this memory, and a restart empties it, which is why it only
// works with a single instance that never crashes.
type LocalCache struct {
	Ledger Ledger
	seen   map[EventID]struct{}
}

// NewLocalCache returns an empty local cache over l.
func NewLocalCache(l Ledger) *LocalCache {
	return &LocalCache{Ledger: l, seen: make(map[EventID]struct{})}
}

// Handle skips e if this instance has processed it, else applies it and
// remembers it.
func (s *LocalCache) Handle(ctx context.Context, e Event) (Outcome, error) {
	if _, ok := s.seen[e.ID]; ok {
		return Skipped, nil
	}
	if err := applyOnce(ctx, s.Ledger, e); err != nil {
		return 0, err
	}
	s.seen[e.ID] = struct{}{}
	return Applied, nil
}

// Seen reports whether this instance's cache holds id; the teaching mode
// shows it.
func (s *LocalCache) Seen(id EventID) bool {
	_, ok := s.seen[id]
	return ok
}

func init() {
	MustRegister(Strategy{
		Name:    "local-cache",
		Order:   20,
		Summary: "per-instance in-memory set: seen, skip; else process, then remember",
		Breaks:  "another instance's memory is invisible, and a restart empties it",
		New:     func(d Deps) (Handler, error) { return NewLocalCache(d.Ledger), nil },
		Memory:  true,
		Expected: map[string]string{"redeliver": "dup", "crash": "dup", "partition": "dup", "slow": "dup",
			"store-loss": "dup", "ttl": "dup", "all": "dup"},
		Lesson: "redeliver",
		Teaching: Teaching{
			MemoryName: "cache",
			Remembers:  MemoryOnApplied,
			Why: map[string]string{
				"dup:unseen": "instance {first} remembers the events it handled in its own cache, in instance {first}'s memory, which no other instance can read.",
			},
		},
		Promises: Promises{SameInstance: true, Concurrent: BothApply},
	})
}
