package explain

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/sim"
)

// The store calls the simulator has yet to serve on this branch (DEL
// IFEQ, SET IFEQ, the set calls, the row calls), the WRONGTYPE answer and
// the dropped outcome are held here by hand-made traces: what the facts
// derive from them, and that a story tells them in neutral words, each
// claim true to the trace.

// tracer builds a hand-made trace, one call at a time: each call is sent
// at one tick and served at the next.
type tracer struct {
	recs []run.Record
	at   int64
	call uint32
}

func (t *tracer) add(r run.Record) {
	t.at += int64(time.Millisecond)
	r.At = t.at
	t.recs = append(t.recs, r)
}

// kv adds instance 0's key-value call of op about event 1, served with
// answer a.
func (t *tracer) kv(op run.Op, key, value, expect string, ttl int64, a run.Answer) {
	t.call++
	t.add(run.Record{Kind: run.Call, Inst: 0, Msg: 1, Event: 1, Call: t.call, Op: op, Key: key, Value: value, Expect: expect, Dur: ttl})
	t.add(run.Record{Kind: run.Serve, Inst: 0, Msg: 1, Event: 1, Call: t.call, Op: op, Key: key, Value: value, Expect: expect, Dur: ttl, Answer: a})
	t.add(run.Record{Kind: run.Reply, Inst: 0, Msg: 1, Event: 1, Call: t.call, Op: op, Key: key, Answer: a})
}

// db adds instance 0's database call of op in transaction tx.
func (t *tracer) db(op run.Op, tx uint32, value, expect string, a run.Answer) {
	t.call++
	t.add(run.Record{Kind: run.Call, Inst: 0, Msg: 1, Event: 1, Call: t.call, Tx: tx, Op: op, Value: value, Expect: expect})
	t.add(run.Record{Kind: run.Serve, Inst: 0, Msg: 1, Event: 1, Call: t.call, Tx: tx, Op: op, Value: value, Expect: expect, Answer: a})
	t.add(run.Record{Kind: run.Reply, Inst: 0, Msg: 1, Event: 1, Call: t.call, Tx: tx, Op: op, Answer: a})
}

// newOpsTrace is one event handled once by a strategy that uses every
// new call: a token-checked lock on lock:1, a set seen, and the id's row.
func newOpsTrace() []run.Record {
	t := &tracer{}
	t.add(run.Record{Kind: run.Publish, Inst: -1, Msg: 1, Event: 1})
	t.add(run.Record{Kind: run.Deliver, Inst: 0, Msg: 1, Event: 1, Tag: 1})
	t.add(run.Record{Kind: run.Receive, Inst: 0, Msg: 1, Event: 1, Tag: 1})
	t.kv(run.SetIfEq, "lock:1", "t2", "t1", 0, run.No)
	t.kv(run.PutNX, "lock:1", "t1", "", int64(10*time.Second), run.Yes)
	t.kv(run.SetIfEq, "lock:1", "t2", "t1", int64(10*time.Second), run.Yes)
	t.kv(run.DelIfEq, "lock:1", "", "t1", 0, run.No)
	t.kv(run.SAdd, "seen", "1", "", int64(5*time.Second), run.Yes)
	t.kv(run.SAdd, "seen", "1", "", 0, run.No)
	t.kv(run.SIsMember, "seen", "1", "", 0, run.Yes)
	t.kv(run.Get, "seen", "", "", 0, run.WrongType)
	t.kv(run.SRem, "seen", "1", "", 0, run.Yes)
	t.kv(run.SIsMember, "seen", "1", "", 0, run.No)
	t.db(run.Read, 1, "", "", run.No)
	t.db(run.Insert, 1, "", "", run.Yes)
	t.db(run.Apply, 1, "", "", run.Yes)
	t.db(run.Commit, 1, "", "", run.Yes)
	t.db(run.Read, 2, "", "", run.Yes)
	t.db(run.Update, 2, "DONE", "", run.Yes)
	t.db(run.Update, 2, "DONE", "NEW", run.No)
	t.db(run.Commit, 2, "", "", run.Yes)
	t.db(run.Delete, 3, "", "", run.Yes)
	t.db(run.Commit, 3, "", "", run.Yes)
	t.kv(run.DelIfEq, "lock:1", "", "t2", 0, run.Yes)
	t.add(run.Record{Kind: run.Handled, Inst: 0, Msg: 1, Event: 1, Outcome: run.Applied})
	t.add(run.Record{Kind: run.AckSend, Inst: 0, Msg: 1, Event: 1, Tag: 1})
	t.add(run.Record{Kind: run.Acked, Inst: 0, Msg: 1, Event: 1, Tag: 1})
	t.add(run.Record{Kind: run.End, Inst: -1})
	return t.recs
}

// recOf is the index of call id's serve in trace.
func recOf(trace []run.Record, id uint32) int {
	for i, r := range trace {
		if r.Kind == run.Serve && r.Call == id {
			return i
		}
	}
	return -1
}

func TestNewCallsFacts(t *testing.T) {
	trace := newOpsTrace()
	cfg := run.Config{Strategy: "none", Seed: 1, Instances: 1, Events: 1}
	f := NewFacts(cfg, trace)

	require.Len(t, f.Keys, 3, "SET NX of lock:1, its SET IFEQ, and the member 1 of seen")
	lock1, lock2, member := &f.Keys[0], &f.Keys[1], &f.Keys[2]
	assert.Equal(t, "t1", lock1.Value)
	assert.Equal(t, recOf(trace, 3), lock1.EndRec, "SET IFEQ replaced t1")
	assert.Equal(t, "t2", lock2.Value)
	assert.Equal(t, run.DelIfEq, f.Calls[lock2.EndCall].Op, "the DEL IFEQ that held the token deleted it; the one that did not, nothing")
	assert.True(t, member.Set)
	assert.Equal(t, "seen", member.Name)
	assert.Equal(t, "1", member.Value)
	assert.Equal(t, run.SRem, f.Calls[member.EndCall].Op)
	assert.Equal(t, member.At+int64(5*time.Second), member.Expires, "the set's TTL")
	assert.Equal(t, "t1", f.Calls[3].Expect, "the value compared with")

	// The row: inserted by tx1, read and updated by tx2, deleted by tx3.
	e := &f.Events[1]
	assert.Equal(t, []uint32{1}, e.IDCommits)
	assert.Equal(t, []uint32{3}, e.IDDeletes)
	assert.True(t, f.IDCommitted(1, recOf(trace, 18)), "committed by tx1")
	assert.False(t, f.IDCommitted(1, len(trace)-1), "deleted by tx3")
	assert.Equal(t, "", f.Calls[15].Value, "the read found the state \"\"")
}

func TestNewCallsAreToldInNeutralWords(t *testing.T) {
	trace := newOpsTrace()
	cfg := sim.Config{Strategy: "none", Seed: 1, Instances: 1, Events: 1}
	a := analyzeEvent(cfg, trace, 1)
	s := a.story()
	s.Result = &sim.Result{}
	s.Result.Trace = trace
	var texts []string
	for _, st := range s.Steps {
		texts = append(texts, st.Text)
	}
	out := strings.Join(texts, "\n")
	for _, want := range []string{
		"tries to set lock:1 to t2 if it holds t1, in one step: lock:1 does not hold t1 (or is not there): nothing is set",
		"sets lock:1 to t1 with SET NX: lock:1 was not there, so it is set",
		"sets lock:1 to t2 if it holds t1, in one step: lock:1 held t1, so it now holds t2",
		"tries to delete lock:1 if it holds t1, in one step: lock:1 does not hold t1 (or is not there): nothing is deleted",
		"adds 1 to the set seen with SADD: 1 was not in seen, so it is added",
		"tries to add 1 to the set seen with SADD: 1 is already in seen",
		"asks whether the set seen holds 1, with SISMEMBER: 1 is in seen",
		"seen holds the other kind of value (a string where a set was asked for, or a set where a string was), so Redis answers WRONGTYPE",
		"removes 1 from the set seen with SREM: 1 was in seen, and it is removed",
		"asks whether the set seen holds 1, with SISMEMBER: 1 is not in seen",
		"reads event 1's row of the processed-ids table, locking it (SELECT ... FOR UPDATE): event 1 has no row there",
		"reads event 1's row of the processed-ids table, locking it (SELECT ... FOR UPDATE): event 1's row is there, with an empty state; the transaction holds its lock until it ends",
		`sets the state of event 1's row to DONE if it is "": event 1's row held "", so it now holds DONE, once the transaction commits`,
		"tries to set the state of event 1's row to DONE if it is NEW: event 1's row does not hold NEW (or is not there): nothing changes",
		"deletes event 1's row of the processed-ids table: event 1's row is deleted, once the transaction commits",
		"commits its transaction: event 1's row is gone from the processed-ids table",
		"deletes lock:1 if it holds t2, in one step: lock:1 held t2, and it is gone",
	} {
		assert.Contains(t, out, want)
	}
	for _, st := range s.Steps {
		if strings.Contains(st.Text, "held t2, and it is gone") {
			assert.Contains(t, st.State, "redis: none", "lock:1 and seen are gone")
		}
	}
	assert.Empty(t, checkStory(s), "every claim true to the trace")
}

// droppedTrace is an event whose only handling gave up on its Apply and
// returned dropped, and whose ack the broker took: it is lost.
func droppedTrace() []run.Record {
	t := &tracer{}
	t.add(run.Record{Kind: run.Publish, Inst: -1, Msg: 1, Event: 1})
	t.add(run.Record{Kind: run.Deliver, Inst: 0, Msg: 1, Event: 1, Tag: 1})
	t.add(run.Record{Kind: run.Receive, Inst: 0, Msg: 1, Event: 1, Tag: 1})
	t.add(run.Record{Kind: run.Call, Inst: 0, Msg: 1, Event: 1, Call: 1, Tx: 1, Op: run.Apply})
	t.add(run.Record{Kind: run.CallHeld, Inst: 0, Msg: 1, Event: 1, Call: 1, Tx: 1, Op: run.Apply})
	t.at += int64(time.Second) - int64(time.Millisecond)
	t.add(run.Record{Kind: run.Timeout, Inst: 0, Msg: 1, Event: 1, Call: 1, Tx: 1, Op: run.Apply})
	t.add(run.Record{Kind: run.Handled, Inst: 0, Msg: 1, Event: 1, Outcome: run.Dropped})
	t.add(run.Record{Kind: run.AckSend, Inst: 0, Msg: 1, Event: 1, Tag: 1})
	t.add(run.Record{Kind: run.Acked, Inst: 0, Msg: 1, Event: 1, Tag: 1})
	t.add(run.Record{Kind: run.End, Inst: -1})
	return t.recs
}

func TestDroppedIsToldAsDropped(t *testing.T) {
	trace := droppedTrace()
	cfg := sim.Config{Strategy: "none", Seed: 1, Instances: 1, Events: 1}
	a := analyzeEvent(cfg, trace, 1)
	require.Equal(t, Lost, a.kind, "acked, never applied")
	s := a.story()
	s.Result = &sim.Result{}
	s.Result.Trace = trace
	out := storyText(s)
	assert.Contains(t, out, "the handler gives up and returns dropped, after it gave up on its Apply (the effect) after 1.001 s without a reply: it acks m1 with nothing more done, so the broker will not deliver it again")
	assert.Contains(t, out, "why: instance 0's handler returned dropped for m1, after it gave up on its Apply (the effect) after 1.001 s without a reply, and its ack reached the broker at 1008.000 ms")
	assert.NotContains(t, out, "skipped")
	assert.NotContains(t, out, "duplicate")
	assert.Empty(t, checkStory(s), "every claim true to the trace")
}

// TestAckAfterFailureIsToldFromTheTrace runs the handlers that ack after
// their effect failed: the story says what the trace shows of each skip
// or drop, never "judged a duplicate" of a skip that followed a failed
// effect.
func TestAckAfterFailureIsToldFromTheTrace(t *testing.T) {
	storyStrategies(t)
	for _, name := range []string{"test-skip-on-error", "test-drop-on-error"} {
		told := 0
		for seed := uint64(1); seed <= 40 && told < 3; seed++ {
			s, err := Tell(sim.Config{Strategy: name, Faults: faults.Of(faults.Partition), Seed: seed, Instances: 2, Events: 3})
			require.NoError(t, err)
			if s.Kind != Lost {
				continue
			}
			told++
			out := storyText(s)
			assert.NotContains(t, out, "judged the delivery a duplicate", "%s seed %d:\n%s", name, seed, out)
			assert.Contains(t, out, "why: instance ", "the why starts from the handler that acked")
			assert.Empty(t, checkStory(s))
		}
		if name == "test-skip-on-error" {
			// (A simulator that predates run.Dropped takes a dropped
			// delivery for a failed one, and nacks it: nothing is lost
			// then, and TestDroppedIsToldAsDropped holds the telling.)
			assert.Positive(t, told, "%s loses an event under partition", name)
		}
	}
}
