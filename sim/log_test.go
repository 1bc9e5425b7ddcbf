package sim

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

// logRun runs cfg on the log and keeps its trace.
func logRun(t *testing.T, cfg Config) *Result {
	t.Helper()
	cfg.BrokerModel, cfg.KeepTrace = run.LogBroker, true
	r, err := Run(cfg)
	require.NoError(t, err, cfg.Reproduce())
	return r
}

// TestLogRunsEveryStrategyUnderEveryScenario plays every strategy that
// runs on the log under every scenario: each run ends, its checkers agree,
// and every event is settled by the group's committed offsets.
func TestLogRunsEveryStrategyUnderEveryScenario(t *testing.T) {
	seeds := 6
	if testing.Short() {
		seeds = 2
	}
	for _, st := range strategies.Names() {
		if d, _ := strategies.Lookup(st); !d.RunsOn(run.LogBroker) {
			continue
		}
		for _, sc := range faults.Scenarios() {
			for s := 1; s <= seeds; s++ {
				cfg := Config{Strategy: st, Faults: sc, Seed: uint64(s), Events: 80}
				r := logRun(t, cfg)
				assert.True(t, r.CheckersAgree(), "checkers disagree: %s", r.Reproduce)
				assert.Zero(t, r.Stuck, "stuck events: %s", r.Reproduce)
			}
		}
	}
}

// TestLogKeysAPartitionByAccount: every copy of an event is read from the
// one partition its account chooses, and within a partition the offsets
// are the order of publishing.
func TestLogKeysAPartitionByAccount(t *testing.T) {
	r := logRun(t, Config{Strategy: "none", Faults: faults.Of(faults.Redeliver), Seed: 3, Events: 120})
	wl := run.NewWorkload(Config{Strategy: "none", Seed: 3, Events: 120})
	partOfAccount := map[int]int32{}
	next := map[int32]int32{}
	for _, rec := range r.Trace {
		if rec.Kind != run.Publish {
			continue
		}
		require.NotZero(t, rec.Part, "a publish on the log names its partition: %s", rec)
		acct := wl.Events[rec.Event].Account
		if p, seen := partOfAccount[acct]; seen {
			assert.Equal(t, p, rec.Part, "account %d's events in one partition: %s", acct, rec)
		}
		partOfAccount[acct] = rec.Part
		assert.Equal(t, next[rec.Part], rec.Count, "offsets of partition %d in publishing order: %s", rec.Part, rec)
		next[rec.Part]++
	}
	assert.Greater(t, len(next), 1, "the events spread over partitions")
}

// TestLogInstanceReadsItsPartitionsInOrder: without faults, each instance
// receives each partition's records in offset order, and only records of
// partitions it was assigned.
func TestLogInstanceReadsItsPartitionsInOrder(t *testing.T) {
	r := logRun(t, Config{Strategy: "db-unique", Seed: 5, Events: 150})
	owner := map[int32]int32{} // partition -> instance, from the latest Assign
	last := map[int32]int32{}
	for _, rec := range r.Trace {
		switch rec.Kind {
		case run.Assign:
			for _, p := range parseParts(t, rec.Key) {
				owner[p] = rec.Inst
				last[p] = -1
			}
		case run.Receive:
			require.Equal(t, owner[rec.Part], rec.Inst, "instance %d reads only its partitions: %s", rec.Inst, rec)
			assert.Greater(t, rec.Count, last[rec.Part], "offsets in order: %s", rec)
			last[rec.Part] = rec.Count
		}
	}
	assert.Zero(t, r.Duplicates+r.Lost+r.Stuck)
}

// TestLogLocalCacheHoldsWhileNoPartitionMoves is the lesson the log adds:
// a producer's duplicate lands in the partition of its first copy, whose
// owner's cache caught the first, so local-cache holds under redeliver.
func TestLogLocalCacheHoldsWhileNoPartitionMoves(t *testing.T) {
	for s := uint64(1); s <= 20; s++ {
		r := logRun(t, Config{Strategy: "local-cache", Faults: faults.Of(faults.Redeliver), Seed: s})
		assert.Zero(t, r.Duplicates+r.Lost, r.Reproduce)
	}
}

// TestLogGracefulRebalanceReplaysNothing: a member that leaves gracefully
// commits what it handled first, and a rebalance waits for every busy
// member to commit and rejoin, so the new owners start where the old ones
// stopped: with no copy beyond the first, not even none duplicates.
func TestLogGracefulRebalanceReplaysNothing(t *testing.T) {
	moves := 0
	for s := uint64(1); s <= 20; s++ {
		for _, st := range []string{"none", "local-cache"} {
			r := logRun(t, Config{Strategy: st, Faults: faults.Of(faults.Rebalance), Seed: s})
			assert.Zero(t, r.Duplicates+r.Lost+r.Stuck, r.Reproduce)
			moves += len(partitionMoves(t, r.Trace))
		}
	}
	assert.Greater(t, moves, 20, "partitions did move")
}

// TestLogLocalCacheDuplicatesAfterAPartitionMoved is the lesson the log
// adds, in its modern form: a producer's duplicate of an event lands in
// its partition after a rebalance moved the partition to another
// instance, whose cache never saw the first copy.
func TestLogLocalCacheDuplicatesAfterAPartitionMoved(t *testing.T) {
	for s := uint64(1); s <= 40; s++ {
		r := logRun(t, Config{Strategy: "local-cache", Faults: faults.Of(faults.Redeliver, faults.Rebalance), Seed: s})
		if r.Duplicates == 0 {
			continue
		}
		applied := map[uint32][]run.Record{} // event -> its Receives that applied
		var recv = map[int32]run.Record{}
		for _, rec := range r.Trace {
			switch {
			case rec.Kind == run.Receive:
				recv[rec.Inst] = rec
			case rec.Kind == run.Handled && rec.Outcome == run.Applied:
				applied[rec.Event] = append(applied[rec.Event], recv[rec.Inst])
			}
		}
		moves := partitionMoves(t, r.Trace)
		for ev, rs := range applied {
			if len(rs) < 2 {
				continue
			}
			first, second := rs[0], rs[1]
			assert.Equal(t, first.Part, second.Part, "both copies of e%d in one partition", ev)
			assert.NotEqual(t, first.Inst, second.Inst, "the second copy of e%d went to another instance", ev)
			moved := false
			for _, m := range moves {
				if m.part == first.Part && m.from == first.Inst && m.to == second.Inst && m.at >= first.At && m.at <= second.At {
					moved = true
				}
			}
			assert.True(t, moved, "partition %d moved from i%d to i%d between the copies of e%d: %s", first.Part, first.Inst, second.Inst, ev, r.Reproduce)
		}
		return
	}
	t.Fatal("no seed of 40 showed local-cache duplicating under redeliver and rebalance on the log")
}

// move is a partition changing owner at a rebalance.
type move struct {
	part, from, to int32
	at             int64
}

// partitionMoves lists the moves the Assign records of trace show.
func partitionMoves(t *testing.T, trace []run.Record) []move {
	var out []move
	owner := map[int32]int32{}
	for _, rec := range trace {
		if rec.Kind != run.Assign {
			continue
		}
		for _, p := range parseParts(t, rec.Key) {
			if o, ok := owner[p]; ok && o != rec.Inst {
				out = append(out, move{part: p, from: o, to: rec.Inst, at: rec.At})
			}
			owner[p] = rec.Inst
		}
	}
	return out
}

// parseParts reads an Assign record's partitions, "1,2".
func parseParts(t *testing.T, key string) []int32 {
	t.Helper()
	var out []int32
	n, in := int32(0), false
	for i := 0; i <= len(key); i++ {
		if i == len(key) || key[i] == ',' {
			if in {
				out = append(out, n)
			}
			n, in = 0, false
			continue
		}
		require.True(t, key[i] >= '0' && key[i] <= '9', "partitions %q", key)
		n, in = n*10+int32(key[i]-'0'), true
	}
	return out
}

// TestLogAutoCommitLosesWhatItReceivedButDidNotHandle: an auto-commit
// commits the records a consumer has received, handled or not, so a
// consumer that then never handles them (it crashed, or its partition
// moved) loses them, even with db-unique; committing after processing,
// the same seeds lose nothing.
func TestLogAutoCommitLosesWhatItReceivedButDidNotHandle(t *testing.T) {
	lost := 0
	for s := uint64(1); s <= 30; s++ {
		auto := logRun(t, Config{Strategy: "db-unique", Faults: faults.AllFaults, Seed: s, Broker: run.BrokerParams{Commit: run.CommitAuto}})
		assert.True(t, auto.CheckersAgree(), auto.Reproduce)
		assert.Zero(t, auto.Duplicates+auto.Stuck, auto.Reproduce)
		lost += auto.Lost
		batch := logRun(t, Config{Strategy: "db-unique", Faults: faults.AllFaults, Seed: s})
		assert.Zero(t, batch.Duplicates+batch.Lost+batch.Stuck, batch.Reproduce)
	}
	assert.Positive(t, lost, "auto-commits lost no event in 30 seeds")
}

// offset-in-db's consumer seeks each partition of an assignment to its
// stored offset before it fetches: after a rebalance or a restart, what
// the database has passed is not fetched again (a zombie aside), and the
// group's committed offset catches up with the store's, so nothing is
// left unsettled. Each Seek follows its Assign and precedes every record
// the consumer is sent of that partition in that generation, and none of
// those is below the offset it sought.
func TestLogOffsetInDBSeeksOnAssignment(t *testing.T) {
	seeds := 12
	if testing.Short() {
		seeds = 4
	}
	seeks := 0
	for _, f := range []faults.Fault{faults.Crash, faults.Rebalance} {
		for s := 1; s <= seeds; s++ {
			cfg := Config{Strategy: "offset-in-db", Faults: faults.Of(f), BrokerModel: "log", Seed: uint64(s), Events: 60, KeepTrace: true}
			r, err := Run(cfg)
			require.NoError(t, err, cfg.Reproduce())
			assert.Zero(t, r.Duplicates+r.Lost+r.Stuck, "offset-in-db holds: %s", cfg.Reproduce())
			type key struct {
				inst int32
				gen  uint32
				part int32
			}
			assigned := map[key]bool{} // an Assign of this generation gave inst part
			sought := map[key]int32{}
			sent := map[key]bool{}
			for _, rec := range r.Trace {
				switch rec.Kind {
				case run.Assign:
					for _, p := range strings.Split(rec.Key, ",") {
						n, err := strconv.Atoi(p)
						require.NoError(t, err, "assign %q", rec.Key)
						assigned[key{rec.Inst, rec.Tag, int32(n)}] = true
					}
				case run.Seek:
					k := key{rec.Inst, rec.Tag, rec.Part}
					require.True(t, assigned[k], "%v: a seek with no assignment before it: %s", rec, cfg.Reproduce())
					require.False(t, sent[k], "%v: a record was sent before the seek: %s", rec, cfg.Reproduce())
					sought[k] = rec.Count
					seeks++
				case run.Deliver:
					k := key{rec.Inst, rec.Tag, rec.Part}
					sent[k] = true
					if at, ok := sought[k]; ok {
						assert.GreaterOrEqual(t, rec.Count, at, "%v: sent below the offset it sought: %s", rec, cfg.Reproduce())
					}
				}
			}
		}
	}
	assert.Positive(t, seeks, "no run sought")
}
