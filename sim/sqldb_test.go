package sim

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

// dbBench is a world whose database is driven call by call, with no
// coroutines: each helper executes one call at the database, as the
// arrival of its request would, so a test sees exactly what the database
// does with it.
type dbBench struct {
	t *testing.T
	w *world
}

func newDBBench(t *testing.T) *dbBench {
	w := newWorld(Config{Strategy: "none", Seed: 1, Instances: 3, Events: 10, KeepTrace: true}.WithDefaults())
	w.makeInstances()
	t.Cleanup(w.release)
	return &dbBench{t, w}
}

// tx begins a transaction on a new connection.
func (b *dbBench) tx() int32 { return b.w.db.begin(b.w.db.openConn()) }

// do executes call op of event ev in tx for instance inst, and returns the
// call id and the records it produced.
func (b *dbBench) do(inst int32, tx int32, o run.Op, ev strategies.Event) (uint32, []run.Record) {
	w := b.w
	from := len(w.rec.Trace())
	w.calls = append(w.calls, call{inst: inst, op: o, ev: ev, tx: tx, start: w.now})
	id := uint32(len(w.calls) - 1)
	w.serveDB(id)
	return id, w.rec.Trace()[from:]
}

// timerOf reports whether a call timeout for call id is scheduled, and when.
func (b *dbBench) timerOf(id uint32) (int64, bool) {
	for _, e := range b.w.q.h {
		if e.kind == evCallTimeout && e.a == id {
			return e.at, true
		}
	}
	return 0, false
}

func kinds(recs []run.Record) []run.Kind {
	var ks []run.Kind
	for _, r := range recs {
		ks = append(ks, r.Kind)
	}
	return ks
}

// TestApplyWaitsForTheAccountRowLock: an Apply takes the row lock of its
// event's account until its transaction ends. Another transaction's Apply
// on the same account parks behind it (with a timer at the call timeout);
// one on another account does not. When the holder commits, the parked
// Applies are retried oldest first: the first takes the lock, the next
// parks behind it, and one whose connection died is dropped.
func TestApplyWaitsForTheAccountRowLock(t *testing.T) {
	b := newDBBench(t)
	d := &b.w.db
	e1 := strategies.Event{ID: 1, Account: 3, Amount: 10}
	e2 := strategies.Event{ID: 2, Account: 3, Amount: 20}
	e3 := strategies.Event{ID: 3, Account: 3, Amount: 30}
	e4 := strategies.Event{ID: 4, Account: 4, Amount: 40}
	e5 := strategies.Event{ID: 5, Account: 3, Amount: 50}
	t1, t2, t3, t4, t5 := b.tx(), b.tx(), b.tx(), b.tx(), b.tx()

	_, recs := b.do(0, t1, run.Apply, e1)
	require.Equal(t, []run.Kind{run.Serve}, kinds(recs), "the first Apply on account 3 takes its lock")
	assert.Equal(t, run.Yes, recs[0].Answer)

	b.w.now = int64(10 * time.Millisecond)
	id2, recs := b.do(1, t2, run.Apply, e2)
	require.Equal(t, []run.Kind{run.Park}, kinds(recs), "another transaction's Apply on account 3 waits")
	assert.Equal(t, uint32(t1), recs[0].Holder, "the park names the holder of the lock")
	at, ok := b.timerOf(id2)
	require.True(t, ok, "a parked Apply times out if the lock never frees")
	assert.Equal(t, b.w.now+int64(callTimeout), at)

	_, recs = b.do(0, t1, run.Apply, strategies.Event{ID: 6, Account: 3, Amount: 1})
	assert.Equal(t, []run.Kind{run.Serve}, kinds(recs), "the holder applies to its own account again without waiting")
	_, recs = b.do(2, t4, run.Apply, e4)
	assert.Equal(t, []run.Kind{run.Serve}, kinds(recs), "an Apply on another account does not wait")

	id3, recs := b.do(2, t3, run.Apply, e3)
	require.Equal(t, []run.Kind{run.Park}, kinds(recs))
	_, recs = b.do(2, t5, run.Apply, e5)
	require.Equal(t, []run.Kind{run.Park}, kinds(recs))
	d.connDeadNow(d.txs[t5].conn) // t5's client vanished while it waited
	b.w.applyDB()

	_, recs = b.do(0, t1, run.Commit, e1)
	require.Equal(t, []run.Kind{run.Serve, run.Park, run.Serve}, kinds(recs),
		"the oldest waiter gets the lock, the next parks behind it, the dead one is dropped, then the commit's own reply")
	assert.Equal(t, uint32(2), recs[0].Event, "t2's Apply, parked first, goes through")
	assert.Equal(t, run.Yes, recs[0].Answer)
	assert.Equal(t, uint32(3), recs[1].Event)
	assert.Equal(t, uint32(t2), recs[1].Holder, "t3's Apply now waits for t2")
	assert.Equal(t, t2, d.acctOwner[3])
	assert.Equal(t, int64(11), d.balance[3], "t1's effects are committed")
	assert.Zero(t, d.ledger[2], "t2's effect is not committed yet")

	// t2 aborts: its connection died. t3 gets the lock at last, and the
	// late reply is what a timed-out caller would never read.
	from := len(b.w.rec.Trace())
	d.connDeadNow(d.txs[t2].conn)
	b.w.applyDB()
	recs = b.w.rec.Trace()[from:]
	require.Equal(t, []run.Kind{run.TxAbort, run.Serve}, kinds(recs))
	assert.Equal(t, uint32(3), recs[1].Event)
	assert.Equal(t, t3, d.acctOwner[3])
	assert.Zero(t, d.ledger[2], "an aborted Apply leaves nothing")
	_, stillTimed := b.timerOf(id3)
	assert.True(t, stillTimed, "its timer still runs: the call may have timed out by now")

	_, recs = b.do(2, t3, run.Rollback, e3)
	require.Equal(t, []run.Kind{run.Serve}, kinds(recs))
	assert.Zero(t, d.acctOwner[3], "a rollback frees the lock")
	assert.Equal(t, t4, d.acctOwner[4], "t4 keeps account 4's lock until it ends")
}

// TestStalledHolderLosesAnotherInstancesEvent is the row lock in a whole
// run, the mechanism of db-unique-split's lost events under slow: instance
// 0 applies event 3 to account 10 and stalls before its Commit, holding the
// account's row lock for 9.7 s. Instance 1 commits event 5's id, then its
// Apply of event 5, also on account 10, parks behind instance 0's
// transaction and times out after 1 s. Every later copy finds the id and
// skips: event 5 is lost.
func TestStalledHolderLosesAnotherInstancesEvent(t *testing.T) {
	cfg := Config{Strategy: "db-unique-split", Faults: faults.Of(faults.Slow), Seed: 33, Instances: 2, Events: 6, KeepTrace: true}
	wl := run.NewWorkload(cfg)
	require.Equal(t, 10, wl.Events[3].Account)
	require.Equal(t, 10, wl.Events[5].Account, "events 3 and 5 share account 10")
	r, err := Run(cfg)
	require.NoError(t, err)
	assert.Equal(t, 1, r.Lost)
	assert.True(t, r.CheckersAgree())

	// The trace: i0's Apply of e3 is served, then i0 stalls; i1's Apply
	// of e5 parks, and 1 s later times out.
	idx := func(from int, ok func(run.Record) bool) int {
		for i := from; i < len(r.Trace); i++ {
			if ok(r.Trace[i]) {
				return i
			}
		}
		t.Fatalf("no such record after %d", from)
		return -1
	}
	is := func(k run.Kind, inst int32, ev uint32) func(run.Record) bool {
		return func(rec run.Record) bool { return rec.Kind == k && rec.Inst == inst && rec.Event == ev }
	}
	stall := idx(0, is(run.Stall, 0, 3))
	assert.Equal(t, run.Serve, r.Trace[stall-2].Kind, "i0's Apply of e3 was served just before it stalled")
	assert.Equal(t, run.Apply, r.Trace[stall-3].Op)
	call := idx(stall, func(rec run.Record) bool { return is(run.Call, 1, 5)(rec) && rec.Op == run.Apply })
	park := idx(call, is(run.Park, 1, 5))
	assert.Equal(t, call+1, park, "the Apply parks as it arrives")
	timeout := idx(park, is(run.Timeout, 1, 5))
	assert.Equal(t, r.Trace[call].At+int64(callTimeout), r.Trace[timeout].At, "it times out at the call timeout")
	assert.Less(t, r.Trace[timeout].At, r.Trace[stall].At+r.Trace[stall].Dur, "while i0 still stalls")
	handled := func(rec run.Record) bool { return rec.Kind == run.Handled && rec.Event == 5 }
	failed := idx(timeout, handled)
	assert.Equal(t, run.Errored, r.Trace[failed].Outcome, "the handler fails, with the effect's outcome unknown")
	skipped := idx(failed+1, handled)
	assert.Equal(t, run.Skipped, r.Trace[skipped].Outcome, "the next copy finds the id and skips")
}
