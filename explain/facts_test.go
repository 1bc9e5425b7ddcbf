package explain

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/check"
	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/sim"
	"github.com/idemsim/idemsim/strategies"
)

// TestFactsAgreeWithTheAudit derives each run's facts from its trace alone
// and requires what the run's own judges saw: the audit's duplicates, lost
// and stuck events, and, event by event, the ledger's final count, every
// ack the broker accepted and every attempt with its outcome, as the
// checked history holds them. The story's state is only as good as these
// facts.
func TestFactsAgreeWithTheAudit(t *testing.T) {
	seeds, events := uint64(40), 30
	if testing.Short() {
		seeds, events = 8, 20
	}
	for _, st := range strategies.NamesOn(run.DefaultBroker) {
		for _, sc := range faults.Scenarios() {
			t.Run(st+"/"+sc.String(), func(t *testing.T) {
				t.Parallel()
				for seed := uint64(1); seed <= seeds; seed++ {
					cfg := sim.Config{Strategy: st, Faults: sc, Seed: seed, Instances: 3, Events: events, KeepTrace: true, KeepHistory: true}
					res, err := sim.Run(cfg)
					require.NoError(t, err)
					f := NewFacts(cfg, res.Trace)
					why := cfg.Reproduce()

					dups, lost, stuck := 0, 0, 0
					for id := 1; id < len(f.Events); id++ {
						e := &f.Events[id]
						// The processed-ids table's unique constraint: an id
						// commits once at most, and a statement that inserts
						// and applies commits both or neither.
						require.LessOrEqual(t, len(e.IDCommits), 1, "%s: event %d", why, id)
						for _, ap := range e.Applications {
							if t0 := &f.Txs[ap.Tx]; t0.Holds(run.Insert, uint32(id)) {
								require.Equal(t, []uint32{ap.Tx}, e.IDCommits, "%s: event %d", why, id)
							}
						}
						if n := len(e.Applications); n > 1 {
							dups += n - 1
						} else if n == 0 && e.Done && !e.Refused {
							// A refused event is dead, not lost.
							lost++
						}
						if !e.Settled {
							stuck++
						}
					}
					require.Equal(t, [3]int{res.Duplicates, res.Lost, res.Stuck}, [3]int{dups, lost, stuck}, "the facts disagree with the audit: %s", why)
					require.Equal(t, res.Stuck, f.Unsettled, why)
					requireDownstream(t, f, res, why)
					requireHistory(t, f, res.History, why)
					requireCallsPaired(t, f, why)
					requireLossesExact(t, f, why)
					requireKeysPredictAnswers(t, f, why)
				}
			})
		}
	}
}

// requireHistory holds the facts to the checked history: the ledger count
// of each event, the accepted acks, and the attempts with their outcomes.
func requireHistory(t *testing.T, f *Facts, history []check.Op, why string) {
	t.Helper()
	type op struct {
		inst       int
		event      uint64
		call, ret  int64
		result     check.Result
		isAck      bool
		ledgerRead int
	}
	var want, got []op
	for _, h := range history {
		switch h.Kind {
		case check.Read:
			want = append(want, op{event: h.Event, ledgerRead: h.Count, call: -1})
		case check.Ack:
			want = append(want, op{inst: h.Client, event: h.Event, call: h.Call, ret: h.Return, isAck: true})
		case check.Attempt:
			want = append(want, op{inst: h.Client, event: h.Event, call: h.Call, ret: h.Return, result: h.Result})
		}
	}
	for id := 1; id < len(f.Events); id++ {
		got = append(got, op{event: uint64(id), ledgerRead: len(f.Events[id].Applications), call: -1})
	}
	for _, a := range f.Acks {
		if a.AcceptedRec >= 0 {
			got = append(got, op{inst: int(a.Inst), event: uint64(a.Event), call: a.At, ret: a.Accepted, isAck: true})
		}
	}
	for _, a := range f.Attempts {
		// run's one mapping, as the recorder ends an attempt: an outcome
		// that is unknown (an error, or no return) never returns.
		o := op{inst: int(a.Inst), event: uint64(a.Event), call: a.At, ret: check.Never, result: a.Outcome.Result()}
		if o.result != check.Unknown {
			o.ret = a.End
		}
		got = append(got, o)
	}
	order := func(a, b op) int {
		return cmp.Or(cmp.Compare(a.event, b.event), cmp.Compare(a.inst, b.inst), cmp.Compare(a.call, b.call),
			cmp.Compare(a.ret, b.ret), cmp.Compare(a.result, b.result), cmp.Compare(a.ledgerRead, b.ledgerRead), boolCmp(a.isAck, b.isAck))
	}
	slices.SortFunc(want, order)
	slices.SortFunc(got, order)
	require.Equal(t, want, got, "the facts disagree with the checked history: %s", why)
}

// requireCallsPaired checks that every record about a call names a call
// the facts know, made by the same instance about the same event, and that
// a reply carries what the store answered.
func requireCallsPaired(t *testing.T, f *Facts, why string) {
	t.Helper()
	for i, r := range f.Trace {
		if relayOf(f.Config, r.Inst) {
			continue // the relay's calls are the downstream's (downstream.go)
		}
		switch r.Kind {
		case run.Serve, run.Reply, run.Timeout, run.Park, run.CallHeld:
			require.Less(t, int(r.Call), len(f.Calls), "%s: record %d", why, i)
			c := &f.Calls[r.Call]
			if r.Inst != c.Inst || r.Msg != c.Msg || r.Event != c.Event || r.Op != c.Op || c.SentRec >= i {
				t.Fatalf("%s: record %d (%s) is not about call c%d as sent", why, i, r, r.Call)
			}
			if r.Kind == run.Reply && (c.Answer != r.Answer || c.ServeRec >= i) {
				t.Fatalf("%s: record %d (%s) does not carry the store's answer %s", why, i, r, c.Answer)
			}
		}
	}
}

// requireLossesExact checks that the count of a Redis data loss names the
// values lost exactly: a restart loses every mark and live key Redis held,
// a failover the ones written last, never part of the ones written at one
// instant.
func requireLossesExact(t *testing.T, f *Facts, why string) {
	t.Helper()
	for _, o := range f.Outages {
		require.Len(t, o.Lost, o.Count, "%s: the loss at %d", why, o.At)
		if o.Cause != run.Failover || len(o.Lost) == 0 {
			continue
		}
		oldestLost := int64(math.MaxInt64)
		for _, k := range o.Lost {
			oldestLost = min(oldestLost, f.Keys[k].At)
		}
		for k, key := range f.Keys {
			kept := key.Rec < o.Rec && (key.EndRec < 0 || key.EndRec > o.Rec) && (key.Name == "" || key.Expires > o.At)
			if kept {
				assert.Less(t, key.At, oldestLost, "%s: key value %d written with the lost ones, yet kept", why, k)
			}
		}
	}
}

// requireKeysPredictAnswers checks the facts' Redis keys against every
// answer Redis gave after: a mark or key the facts hold as live just
// before a call must be what the call found (SET NX refused, XX and DEL
// done, a GET's value), and one they hold as gone must be absent. So
// every expiry, overwrite, DEL and data loss the facts derive is held to
// what Redis did next.
func requireKeysPredictAnswers(t *testing.T, f *Facts, why string) {
	t.Helper()
	for k := 1; k < len(f.Calls); k++ {
		c := &f.Calls[k]
		if c.Op.Store() != run.Redis || c.ServeRec < 0 || c.Answer == run.Refused {
			continue
		}
		live := -1
		for j := range f.Keys {
			key := &f.Keys[j]
			same := key.Name == c.Key && (c.Op.KV() || key.Event == c.Event)
			if same && key.Rec < c.ServeRec && (key.EndRec < 0 || key.EndRec >= c.ServeRec) && key.Expires > c.Served {
				live = j
			}
		}
		var want bool
		switch c.Op {
		case run.SetNX, run.PutNX:
			want = live < 0
		case run.Set, run.Put:
			want = true
		case run.Exists, run.Get, run.PutXX, run.Del:
			want = live >= 0
		}
		require.Equal(t, want, c.Answer == run.Yes, "%s: call c%d (%s %q): the facts hold value %d live", why, c.ID, c.Op, c.Key, live)
		if c.Op == run.Get && live >= 0 {
			require.Equal(t, f.Keys[live].Value, c.Value, "%s: GET c%d", why, c.ID)
		}
	}
}

// TestCutSpansMergeOverlappingWindows feeds two windows of one instance
// that overlap: the instance is cut off from the first opening to the
// last closing, whichever window closes first.
func TestCutSpansMergeOverlappingWindows(t *testing.T) {
	trace := []run.Record{
		{At: 10, Kind: run.Partition, Inst: 0, Stores: run.Redis, Window: 2},
		{At: 20, Kind: run.Partition, Inst: 0, Stores: run.Database, Window: 1},
		{At: 30, Kind: run.Partition, Inst: 0, Window: 2},
		{At: 40, Kind: run.Partition, Inst: 0, Window: 1},
		{At: 50, Kind: run.Partition, Inst: 1, Stores: run.Broker, Window: 1},
		{At: 60, Kind: run.Heal, Inst: -1},
		{At: 70, Kind: run.End, Inst: -1},
	}
	f := NewFacts(run.Config{Strategy: "none", Seed: 1, Instances: 2, Events: 1}, trace)
	require.Len(t, f.Windows, 3)
	assert.Equal(t, []Span{{From: 10, To: 40, Rec: 0, EndRec: 3}}, f.CutSpans(0))
	assert.Equal(t, []Span{{From: 50, To: 60, Rec: 4, EndRec: 5}}, f.CutSpans(1), "the heal closes a window")
	assert.Equal(t, run.Redis|run.Database, f.CutAt(0, 1))
	assert.Equal(t, run.Database, f.CutAt(0, 2), "window 2 closed, window 1 still open")
	assert.Zero(t, f.CutAt(0, 3))
}

// TestStoryAndTimelineDrawTheSameWindows takes a run whose instance has
// overlapping partition windows (redis under partition, seed 127: window
// 2 opens, window 1 opens, 1 heals, 2 heals) and requires the story to say
// the instance is reachable again exactly where the timeline's bar ends,
// and cut off where one starts.
func TestStoryAndTimelineDrawTheSameWindows(t *testing.T) {
	s, err := Tell(sim.Config{Strategy: "redis", Faults: faults.Of(faults.Partition), Seed: 127, Instances: 1, Events: 2})
	require.NoError(t, err)
	f := s.Facts()
	overlap := false
	for _, w := range f.Windows {
		overlap = overlap || w.Rec > 0 && f.CutAt(w.Inst, w.Rec-1) != 0
	}
	require.True(t, overlap, "the run has overlapping windows")

	tl := buildTimeline(s)
	var starts, ends []float64
	for _, seg := range tl.spans[&spanCut] {
		starts, ends = append(starts, seg[0].X), append(ends, seg[1].X)
	}
	told := 0
	for _, st := range s.Steps {
		x := ms(int64(st.At))
		switch {
		case strings.Contains(st.Text, "is reachable again"):
			assert.Contains(t, ends, x, "step %d: the timeline's bar ends where the story heals", st.N)
			told++
		case strings.Contains(st.Text, "(a partition)"):
			assert.Contains(t, starts, x, "step %d: the timeline's bar starts where the story cuts off", st.N)
			told++
		}
	}
	assert.GreaterOrEqual(t, told, 2, "the story tells the partition")
	// Within the story, every edge of a bar is a step.
	for k := range starts {
		for _, x := range []float64{starts[k], ends[k]} {
			if t0 := int64(x * 1e6); t0 > int64(s.Steps[0].At) && t0 < int64(s.Steps[len(s.Steps)-1].At) && x != ms(f.Heal) {
				found := false
				for _, st := range s.Steps {
					found = found || ms(int64(st.At)) == x
				}
				assert.True(t, found, "the bar's edge at %.3f ms is a step of the story", x)
			}
		}
	}
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// TestInsertApplyWaitsAndCommits feeds the statement that inserts an id
// and applies its effect at once: one that waits for a row lock holds the
// id it inserted, so a second one waits for that id, then finds it.
func TestInsertApplyWaitsAndCommits(t *testing.T) {
	trace := []run.Record{
		{At: 1, Kind: run.Call, Inst: 1, Event: 2, Call: 1, Tx: 2, Op: run.Apply},
		{At: 2, Kind: run.Serve, Inst: 1, Event: 2, Call: 1, Tx: 2, Op: run.Apply, Answer: run.Yes},
		{At: 3, Kind: run.Call, Inst: 0, Event: 1, Call: 2, Tx: 1, Op: run.InsertApply},
		{At: 4, Kind: run.Park, Inst: 0, Event: 1, Call: 2, Tx: 1, Op: run.InsertApply, Holder: 2},
		{At: 5, Kind: run.Call, Inst: 2, Event: 1, Call: 3, Tx: 3, Op: run.InsertApply},
		{At: 6, Kind: run.Park, Inst: 2, Event: 1, Call: 3, Tx: 3, Op: run.InsertApply, Holder: 1},
		{At: 7, Kind: run.Call, Inst: 1, Event: 2, Call: 4, Tx: 2, Op: run.Commit},
		{At: 8, Kind: run.Serve, Inst: 0, Event: 1, Call: 2, Tx: 1, Op: run.InsertApply, Answer: run.Yes},
		{At: 8, Kind: run.Serve, Inst: 2, Event: 1, Call: 3, Tx: 3, Op: run.InsertApply, Answer: run.No},
		{At: 8, Kind: run.Serve, Inst: 1, Event: 2, Call: 4, Tx: 2, Op: run.Commit, Answer: run.Yes},
		{At: 9, Kind: run.End, Inst: -1},
	}
	f := NewFacts(run.Config{Strategy: "db-unique-fast", Seed: 1, Instances: 3, Events: 2}, trace)
	assert.False(t, f.Calls[2].Parks[0].ID, "it waits for account's row lock, held by tx2")
	assert.True(t, f.Calls[3].Parks[0].ID, "it waits for the id tx1 inserted")
	assert.Equal(t, []uint32{1}, f.Events[1].IDCommits)
	require.Len(t, f.Events[1].Applications, 1)
	assert.Equal(t, uint32(1), f.Events[1].Applications[0].Tx)
	assert.Equal(t, TxCommitted, f.Txs[3].Status, "a statement that found the id commits nothing")
	assert.Empty(t, f.Txs[3].Inserted)
	assert.Len(t, f.Events[2].Applications, 1)
}

// requireDownstream holds the downstream's facts to the run's audit of it:
// the ghosts applied, and the committed effects whose downstream event was
// never applied.
func requireDownstream(t *testing.T, f *Facts, res *sim.Result, why string) {
	t.Helper()
	ghosts := 0
	applied := make([]bool, len(f.Events))
	for _, da := range f.Down {
		switch {
		case da.Applied && !da.Committed:
			ghosts++
		case da.Applied:
			applied[da.Event] = true
		}
	}
	unsent := 0
	st, _ := strategies.Lookup(f.Config.Strategy)
	for id := 1; id < len(f.Events); id++ {
		if st.Needs.Has(strategies.NeedsPublisher) && len(f.Events[id].Applications) > 0 && !applied[id] {
			unsent++
		}
	}
	require.Equal(t, [2]int{res.Ghosts, res.DownstreamLost}, [2]int{ghosts, unsent}, "the downstream's facts disagree with its audit: %s", why)
}
