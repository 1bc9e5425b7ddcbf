package strategies

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// memory is a sequential, in-memory MarkStore and Ledger: enough to pin
// down what each strategy does call by call. Concurrency, crashes and
// network faults are the simulator's business.
type memory struct {
	kv        map[string]string
	marks     map[EventID]bool
	processed map[EventID]bool
	applied   map[EventID]int
	offsets   map[int]int64 // the offsets table: partition → next offset
	states    map[EventID]string
	keys      map[string]Receipt // the provider's idempotency keys
	charges   int
	failApply int // fail this many Apply calls
	calls     []string
	// The downstream's (publisher_test.go): the events published, in
	// order, and the outbox's committed rows.
	published []EventID
	outbox    []OutboxRow
	sent      map[int64]bool
}

func newMemory() *memory {
	return &memory{kv: map[string]string{}, marks: map[EventID]bool{}, processed: map[EventID]bool{}, applied: map[EventID]int{}, offsets: map[int]int64{},
		states: map[EventID]string{}, keys: map[string]Receipt{}}
}

func (m *memory) SetNX(_ context.Context, id EventID, _ time.Duration) (bool, error) {
	m.calls = append(m.calls, "SetNX")
	if m.marks[id] {
		return false, nil
	}
	m.marks[id] = true
	return true, nil
}

func (m *memory) Exists(_ context.Context, id EventID) (bool, error) {
	m.calls = append(m.calls, "Exists")
	return m.marks[id], nil
}

func (m *memory) Set(_ context.Context, id EventID, _ time.Duration) error {
	m.calls = append(m.calls, "Set")
	m.marks[id] = true
	return nil
}

func (m *memory) Begin(context.Context) (Tx, error) { return &memTx{m: m}, nil }

// memKV is memory's key-value store.
type memKV struct{ m *memory }

func (k memKV) Get(_ context.Context, key string) (string, bool, error) {
	k.m.calls = append(k.m.calls, "GET")
	v, ok := k.m.kv[key]
	return v, ok, nil
}

func (k memKV) Set(_ context.Context, key, value string, cond Cond, _ time.Duration) (bool, error) {
	k.m.calls = append(k.m.calls, "SET")
	if _, ok := k.m.kv[key]; cond == IfAbsent && ok || cond == IfPresent && !ok {
		return false, nil
	}
	k.m.kv[key] = value
	return true, nil
}

func (k memKV) Del(_ context.Context, key string) (bool, error) {
	k.m.calls = append(k.m.calls, "DEL")
	_, ok := k.m.kv[key]
	delete(k.m.kv, key)
	return ok, nil
}

// deps are the stores of m.
func (m *memory) deps() Deps {
	return Deps{Marks: m, KV: memKV{m}, Ledger: m, Provider: m, Publisher: m}
}

// InsertApply inserts and applies in one call, as one statement would.
func (m *memory) InsertApply(_ context.Context, e Event) (bool, error) {
	m.calls = append(m.calls, "InsertApply")
	if m.processed[e.ID] {
		return false, nil
	}
	if m.failApply > 0 {
		m.failApply--
		return false, errApply
	}
	m.processed[e.ID] = true
	m.applied[e.ID]++
	return true, nil
}

type memTx struct {
	m        *memory
	inserted []EventID
	effects  []Event
	states   map[EventID]string // updated, applied at commit
	offsets  map[int]int64      // advanced, applied at commit
	outbox   []Event            // outgoing events, added to the outbox at commit
}

// ReadOffset reads the partition's next offset, its own advance first.
func (t *memTx) ReadOffset(_ context.Context, p int) (int64, error) {
	t.m.calls = append(t.m.calls, "ReadOffset")
	if n, ok := t.offsets[p]; ok {
		return n, nil
	}
	return t.m.offsets[p], nil
}

// AdvanceOffset sets the partition's next offset if it is expect.
func (t *memTx) AdvanceOffset(ctx context.Context, p int, expect, next int64) (bool, error) {
	cur, _ := t.ReadOffset(ctx, p)
	t.m.calls[len(t.m.calls)-1] = "AdvanceOffset"
	if cur != expect {
		return false, nil
	}
	if t.offsets == nil {
		t.offsets = map[int]int64{}
	}
	t.offsets[p] = next
	return true, nil
}

func (t *memTx) InsertProcessed(_ context.Context, id EventID) (bool, error) {
	t.m.calls = append(t.m.calls, "Insert")
	if t.m.processed[id] {
		return false, nil
	}
	t.inserted = append(t.inserted, id)
	return true, nil
}

var errApply = errors.New("apply failed")

func (t *memTx) Apply(_ context.Context, e Event) error {
	t.m.calls = append(t.m.calls, "Apply")
	if t.m.failApply > 0 {
		t.m.failApply--
		return errApply
	}
	t.effects = append(t.effects, e)
	return nil
}

func (t *memTx) Commit(context.Context) error {
	t.m.calls = append(t.m.calls, "Commit")
	for _, id := range t.inserted {
		t.m.processed[id] = true
	}
	for _, e := range t.effects {
		t.m.applied[e.ID]++
	}
	for id, st := range t.states {
		t.m.states[id] = st
	}
	for p, n := range t.offsets {
		t.m.offsets[p] = n
	}
	for _, e := range t.outbox {
		t.m.outbox = append(t.m.outbox, OutboxRow{Seq: int64(len(t.m.outbox) + 1), Event: e})
	}
	return nil
}

func (t *memTx) Rollback(context.Context) error {
	t.m.calls = append(t.m.calls, "Rollback")
	return nil
}

func TestEveryStrategyHandlesADelivery(t *testing.T) {
	want := map[string][]string{
		"none":                 {"Apply", "Commit"},
		"local-cache":          {"Apply", "Commit"},
		"redis":                {"SetNX", "Apply", "Commit"},
		"redis-after":          {"Exists", "Apply", "Commit", "Set"},
		"db-unique":            {"Insert", "Apply", "Commit"},
		"db-unique-split":      {"Insert", "Commit", "Apply", "Commit"},
		"kafka-commit":         {"Apply", "Commit"},
		"offset-in-db":         {"AdvanceOffset", "Apply", "Commit"},
		"api-no-key":           {"Insert", "Charge", "Commit"},
		"api-key":              {"Charge"},
		"api-key-db":           {"ReadProcessed", "Insert", "UpdateProcessed", "Commit", "Charge", "UpdateProcessed", "Commit"},
		"publish-after-commit": {"Insert", "Apply", "Commit", "Publish"},
		"publish-in-tx":        {"Insert", "Apply", "Publish", "Commit"},
		"outbox":               {"Insert", "Apply", "InsertOutbox", "Commit"},
	}
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			m := newMemory()
			h, err := New(name, m.deps())
			require.NoError(t, err)
			// Record 0 of partition 1, as the log numbers them: the
			// log's strategies need it, the others ignore it.
			out, err := h.Handle(context.Background(), Event{ID: 1, Account: 1, Amount: 5, Partition: 1})
			require.NoError(t, err)
			assert.Equal(t, Applied, out)
			assert.Equal(t, 1, m.applied[1])
			if calls, ok := want[name]; ok {
				assert.Equal(t, calls, m.calls, "the calls, in order")
			}
		})
	}
}

func TestSequentialDuplicates(t *testing.T) {
	// A second delivery of the same event to the same handler: every
	// strategy but none and kafka-commit skips it.
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			m := newMemory()
			h, err := New(name, m.deps())
			require.NoError(t, err)
			e := Event{ID: 7, Account: 2, Amount: 1, Partition: 2, Offset: 0}
			_, err = h.Handle(context.Background(), e)
			require.NoError(t, err)
			out, err := h.Handle(context.Background(), e)
			require.NoError(t, err)
			if name == "none" || name == "kafka-commit" {
				assert.Equal(t, Applied, out)
				assert.Equal(t, 2, m.applied[7])
				return
			}
			assert.Equal(t, Skipped, out)
			assert.Equal(t, 1, m.applied[7])
		})
	}
}

func TestLocalCacheIsPerInstance(t *testing.T) {
	m := newMemory()
	a, _ := New("local-cache", Deps{Ledger: m})
	b, _ := New("local-cache", Deps{Ledger: m})
	e := Event{ID: 3, Account: 1, Amount: 1}
	_, err := a.Handle(context.Background(), e)
	require.NoError(t, err)
	out, err := b.Handle(context.Background(), e)
	require.NoError(t, err)
	assert.Equal(t, Applied, out, "instance b's cache cannot know what a processed")
	assert.Equal(t, 2, m.applied[3])
	assert.True(t, a.(*LocalCache).Memory.Contains(3), "New gives each handler a memory of its own where the runner gives none")
	assert.NotSame(t, a.(*LocalCache).Memory, b.(*LocalCache).Memory)
}

func TestFailedEffect(t *testing.T) {
	// The effect fails once; the broker redelivers. db-unique rolls back its
	// mark with the effect, so the retry applies. redis and db-unique-split
	// kept their mark, so the retry skips: the event is lost.
	for name, wantRetry := range map[string]Outcome{"db-unique": Applied, "redis": Skipped, "db-unique-split": Skipped, "redis-after": Applied} {
		t.Run(name, func(t *testing.T) {
			m := newMemory()
			m.failApply = 1
			h, err := New(name, m.deps())
			require.NoError(t, err)
			e := Event{ID: 9, Account: 1, Amount: 1}
			_, err = h.Handle(context.Background(), e)
			require.ErrorIs(t, err, errApply)
			out, err := h.Handle(context.Background(), e)
			require.NoError(t, err)
			assert.Equal(t, wantRetry, out)
		})
	}
}

func TestNewRefusesWhatItCannotBuild(t *testing.T) {
	m := newMemory()
	_, err := New("redis", Deps{Ledger: m})
	assert.ErrorContains(t, err, "needs a MarkStore")
	_, err = New("db-unique", Deps{})
	assert.ErrorContains(t, err, "needs a Ledger")
	_, err = New("memcached", Deps{Ledger: m})
	assert.ErrorContains(t, err, "accepted: none, kafka-commit, local-cache, redis, redis-after, db-unique, db-unique-split")
	_, ok := Lookup("db-unique")
	assert.True(t, ok)
	_, ok = Lookup("db_unique")
	assert.False(t, ok)
}

// The registry: the built-ins in table order, each described once, and
// what Register refuses.
func TestRegistry(t *testing.T) {
	builtins := []string{"none", "kafka-commit", "local-cache", "redis", "redis-after", "db-unique", "db-unique-split",
		"redis-lease", "redis-release", "db-unique-fast", "offset-in-db"}
	assert.Equal(t, builtins, Names()[:len(builtins)], "the built-ins first, in table order")
	queue := []string{"none", "local-cache", "redis", "redis-after", "db-unique", "db-unique-split", "redis-lease", "redis-release", "db-unique-fast"}
	assert.Equal(t, queue, NamesOn("queue")[:len(queue)], "the log's own strategies do not run on the queue")
	assert.Equal(t, builtins, NamesOn("log")[:len(builtins)], "every built-in runs on the log")
	for _, s := range All() {
		assert.NotEmpty(t, s.Summary, s.Name)
		assert.NotEmpty(t, s.Breaks, s.Name)
		assert.True(t, s.Needs.Has(NeedsLedger), s.Name)
		if !s.RunsOn("queue") {
			assert.Nil(t, s.Expected, "%s runs on no queue: no row there", s.Name)
			continue
		}
		for _, sc := range []string{"redeliver", "crash", "partition", "slow", "store-loss", "ttl", "rebalance", "zombie", "key-expiry", "all"} {
			assert.Regexp(t, `^(ok|dup|lost|dup\+lost|ghost)$`, s.Expected[sc], "%s under %s", s.Name, sc)
		}
		// id-reuse may surface a reused id as dead (a refusal to a
		// dead-letter queue) where an id-only deduplicator loses it.
		assert.Regexp(t, `^(ok|dup|lost|dup\+lost|dead|lost\+dead)$`, s.Expected["id-reuse"], "%s under id-reuse", s.Name)
	}
	// Every built-in has a row on the log, each cell a kind of violation
	// in every scenario.
	for _, name := range Names() {
		s, _ := Lookup(name)
		row := s.ExpectedRow("log")
		for _, sc := range []string{"redeliver", "crash", "partition", "slow", "store-loss", "ttl", "rebalance", "zombie", "key-expiry", "all"} {
			assert.Regexp(t, `^(ok|dup|lost|dup\+lost|ghost)$`, row[sc], "%s under %s on the log", name, sc)
		}
		assert.Regexp(t, `^(ok|dup|lost|dup\+lost|dead|lost\+dead)$`, row["id-reuse"], "%s under id-reuse on the log", name)
	}
	noop := func(Deps) (Handler, error) { return None{}, nil }
	assert.ErrorContains(t, Register(Strategy{Name: "none", New: noop}), "registered already")
	assert.ErrorContains(t, Register(Strategy{Name: "Bad Name", New: noop}), "bad name")
	assert.ErrorContains(t, Register(Strategy{Name: "no-new"}), "has no New")
	before := len(All())
	assert.Error(t, Register(Strategy{Name: "db-unique", New: noop}))
	assert.Equal(t, before, len(All()), "nothing refused was added")
}
