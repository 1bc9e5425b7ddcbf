package run

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/check"
	"github.com/idemsim/idemsim/faults"
)

// Each kind of record prints the details it carries, as traces show them.
func TestRecordDetail(t *testing.T) {
	for _, tc := range []struct {
		rec  Record
		want string
	}{
		{Record{Kind: Deliver, Tag: 2}, "tag 2"},
		{Record{Kind: Call, Call: 5, Op: Apply, Tx: 3}, "c5 Apply tx3"},
		{Record{Kind: Call, Call: 1, Op: SetNX}, "c1 SetNX"},
		{Record{Kind: Serve, Call: 1, Op: SetNX, Answer: Yes}, "c1 SetNX: true"},
		{Record{Kind: Reply, Call: 7, Op: Commit, Tx: 2, Answer: TxAborted}, "c7 Commit tx2: tx aborted"},
		{Record{Kind: Park, Call: 9, Op: Insert, Tx: 4, Holder: 3}, "c9 InsertProcessed tx4 behind tx3"},
		{Record{Kind: Handled, Outcome: Errored}, "error"},
		{Record{Kind: Requeue, Cause: DeadlinePassed}, "ack deadline passed"},
		{Record{Kind: Requeue, Cause: AfterNack}, "after nack"},
		{Record{Kind: Requeue, Cause: ChannelClosed}, "channel closed"},
		{Record{Kind: DeadLetter, Tag: 3}, "after 3 deliveries"},
		{Record{Kind: Crash, Step: AtCall, Op: Commit}, "before Commit"},
		{Record{Kind: Crash, Step: AtCall, Op: SetNX, InFlight: true, Call: 4}, "with SetNX in flight (c4)"},
		{Record{Kind: Crash, Step: AtAck}, "before the ack"},
		{Record{Kind: Crash, Step: AtNack}, "before the nack"},
		{Record{Kind: Stall, Dur: 1500000000}, "1.5s"},
		{Record{Kind: Partition, Stores: Broker | Redis | Database, Window: 2}, "from broker+redis+database (window 2)"},
		{Record{Kind: Partition, Window: 2}, "healed (window 2)"},
		{Record{Kind: StoreLoss, Cause: RestartEmpty, Count: 3}, "restart empty, 3 marks lost"},
		{Record{Kind: StoreLoss, Cause: Failover, Count: 1}, "failover to a lagging replica, 1 marks lost"},
		{Record{Kind: TxAbort, Tx: 10}, "tx10"},
		{Record{Kind: End, Count: 0}, "0 events not settled"},
		{Record{Kind: Heal}, ""},
		{Record{Kind: Call, Call: 3, Op: PutNX, Key: "order:7", Value: "INPROGRESS", Dur: 2e9}, `c3 SET NX "order:7" "INPROGRESS" PX 2s`},
		{Record{Kind: Reply, Call: 4, Op: Get, Key: "order:7", Value: "COMPLETED", Answer: Yes}, `c4 GET "order:7": "COMPLETED"`},
		{Record{Kind: Reply, Call: 4, Op: Get, Key: "order:7", Answer: No}, `c4 GET "order:7": false`},
		{Record{Kind: Serve, Call: 5, Op: Del, Key: "order:7", Answer: Yes}, `c5 DEL "order:7": true`},
		{Record{Kind: Handled, Outcome: RetryLater}, "retry-later"},
		{Record{Kind: Handled, Outcome: Dropped}, "dropped"},
		{Record{Kind: Call, Call: 6, Op: DelIfEq, Key: "lock:1", Expect: "tok"}, `c6 DEL IFEQ "lock:1" if "tok"`},
		{Record{Kind: Serve, Call: 6, Op: DelIfEq, Key: "lock:1", Expect: "tok", Answer: No}, `c6 DEL IFEQ "lock:1" if "tok": false`},
		{Record{Kind: Call, Call: 7, Op: SetIfEq, Key: "lock:1", Value: "tok2", Expect: "tok", Dur: 5e9}, `c7 SET IFEQ "lock:1" "tok2" if "tok" PX 5s`},
		{Record{Kind: Reply, Call: 7, Op: SetIfEq, Key: "lock:1", Value: "tok2", Expect: "tok", Dur: 5e9, Answer: WrongType}, `c7 SET IFEQ "lock:1" "tok2" if "tok": wrong type`},
		{Record{Kind: Call, Call: 8, Op: SAdd, Key: "seen", Value: "7", Dur: 1e9}, `c8 SADD "seen" "7" PX 1s`},
		{Record{Kind: Serve, Call: 9, Op: SIsMember, Key: "seen", Value: "", Answer: No}, `c9 SISMEMBER "seen" "": false`},
		{Record{Kind: Reply, Call: 10, Op: SRem, Key: "seen", Value: "7", Answer: Yes}, `c10 SREM "seen" "7": true`},
		{Record{Kind: Call, Call: 11, Op: Read, Tx: 2}, "c11 ReadProcessed tx2"},
		{Record{Kind: Reply, Call: 11, Op: Read, Tx: 2, Value: "done", Answer: Yes}, `c11 ReadProcessed tx2: "done"`},
		{Record{Kind: Serve, Call: 11, Op: Read, Tx: 2, Answer: Yes}, `c11 ReadProcessed tx2: ""`},
		{Record{Kind: Serve, Call: 11, Op: Read, Tx: 2, Answer: No}, "c11 ReadProcessed tx2: false"},
		{Record{Kind: Park, Call: 12, Op: Delete, Tx: 2, Holder: 1}, "c12 DeleteProcessed tx2 behind tx1"},
		{Record{Kind: Reply, Call: 13, Op: Update, Tx: 2, Value: "done", Expect: "", Answer: Yes}, `c13 UpdateProcessed tx2 "done" if "": true`},
		{Record{Kind: Memory, Op: MemHas, Event: 3, Answer: No}, "Contains e3: false"},
		{Record{Kind: Memory, Op: MemAdd, Event: 3, Answer: Yes}, "Add e3: true"},
		{Record{Kind: Memory, Op: MemDel, Event: 3, Answer: No}, "Remove e3: false"},
		{MemoryRecord(0, 0, 0, MemHas, 1<<40, true), "Contains id 1099511627776: true"},
	} {
		assert.Equal(t, tc.want, tc.rec.Detail(), "%+v", tc.rec)
	}
	line := Record{At: 1500000, Kind: Acked, Inst: 1, Msg: 4, Event: 3, Tag: 1}.String()
	assert.Equal(t, "    1.500000ms i1  m4    e3    acked        tag 1", line)
	assert.Equal(t, "    0.000000ms -   -     -     heal", Record{Kind: Heal, Inst: -1}.String())
	line = MemoryRecord(12500000, 1, 2, MemHas, 3, false).String()
	assert.Equal(t, "   12.500000ms i1  m2    e3    memory       Contains e3: false", line)
}

// A memory call's record: the id in Event, or in Value when it is too
// large; its answer; the ops are memory ops, served by no store, and kept
// apart from the store calls' numbers.
func TestMemoryRecord(t *testing.T) {
	r := MemoryRecord(5, 2, 7, MemAdd, 9, true)
	assert.Equal(t, Record{At: 5, Kind: Memory, Inst: 2, Msg: 7, Op: MemAdd, Event: 9, Answer: Yes}, r)
	r = MemoryRecord(5, 2, 0, MemDel, 1<<32, false)
	assert.Equal(t, Record{At: 5, Kind: Memory, Inst: 2, Op: MemDel, Value: "4294967296", Answer: No}, r)
	assert.Equal(t, "id 4294967296", r.MemoryID())
	for _, op := range []Op{MemHas, MemAdd, MemDel} {
		assert.True(t, op.Memory(), "%s", op)
		assert.Zero(t, op.Store(), "%s", op)
		assert.False(t, op.KV(), "%s", op)
	}
	assert.False(t, Update.Memory())
	assert.Equal(t, Op(22), MemHas, "memory ops come after every store op, whose numbers digests cover")
	assert.Equal(t, Kind(26), Memory, "the memory kind comes after every other kind")
	hash := func(recs ...Record) uint64 {
		var rec Recorder
		for i := range recs {
			rec.Add(&recs[i])
		}
		return rec.Hash()
	}
	base := MemoryRecord(5, 2, 7, MemHas, 9, false)
	other := []Record{MemoryRecord(5, 2, 7, MemHas, 9, true), MemoryRecord(5, 2, 7, MemAdd, 9, false), MemoryRecord(5, 2, 7, MemHas, 10, false)}
	for _, o := range other {
		assert.NotEqual(t, hash(base), hash(o), "%s", o)
	}
}

// The digest covers every field: changing any one changes it.
func TestHashCoversEveryField(t *testing.T) {
	base := Record{At: 1, Dur: 2, Inst: 3, Msg: 4, Event: 5, Tag: 6, Call: 7, Tx: 8, Holder: 9, Window: 10, Count: 11,
		Kind: Call, Op: Apply, Answer: Yes, Outcome: Applied, Step: AtCall, Stores: Redis, Cause: AfterNack, Key: "k", Value: "v", Expect: "e"}
	hash := func(r Record) uint64 {
		var rec Recorder
		rec.Add(&r)
		return rec.Hash()
	}
	h := hash(base)
	v := reflect.ValueOf(&base).Elem()
	for i := 0; i < v.NumField(); i++ {
		changed := base
		f := reflect.ValueOf(&changed).Elem().Field(i)
		switch f.Kind() {
		case reflect.Bool:
			f.SetBool(!f.Bool())
		case reflect.Int32, reflect.Int64:
			f.SetInt(f.Int() + 1)
		case reflect.String:
			f.SetString(f.String() + "x")
		default:
			f.SetUint(f.Uint() + 1)
		}
		assert.NotEqual(t, h, hash(changed), "field %s", v.Type().Field(i).Name)
	}
}

// Finish judges the run: the final reads, both checkers, the injected
// faults, and the trace and history handed over only when asked for.
func TestRecorderFinish(t *testing.T) {
	var r Recorder
	cfg := Config{Strategy: "db-unique", Faults: faults.Of(faults.Crash, faults.TTL), Seed: 7, Instances: 2, Events: 2, KeepTrace: true, KeepHistory: true}
	r.Reset(cfg)
	r.Add(&Record{At: 1, Kind: Publish, Inst: -1, Msg: 1, Event: 1})
	a := r.BeginAttempt(0, 1, 2)
	r.EndAttempt(a, Applied, 3)
	r.Ack(0, 1, 4, 5)
	b := r.BeginAttempt(1, 2, 6) // fails: stays unknown
	r.EndAttempt(b, Errored, 7)
	r.LostAck()
	r.Injected(faults.Crash, 2)
	res := r.Finish(cfg, Tally{Published: 2, Deliveries: 2, Applied: []int{0, 1, 0}, Done: []bool{false, true, false}, Settled: []bool{false, true, false}, End: 9})

	assert.Equal(t, 0, res.Duplicates)
	assert.Equal(t, 0, res.Lost)
	assert.Equal(t, 1, res.Stuck, "event 2 never settled")
	require.NotNil(t, res.Linearizable)
	assert.True(t, res.CheckersAgree())
	assert.Equal(t, map[string]int{"lost-ack": 1, "crash": 2, "ttl": 0}, res.FaultsInjected)
	assert.Len(t, res.Trace, 2, "the publish and the end")
	assert.Equal(t, End, res.Trace[1].Kind)
	assert.Equal(t, int32(1), res.Trace[1].Count)
	require.Len(t, res.History, 5, "two attempts, one ack, two reads")
	assert.Equal(t, check.Unknown, res.History[b].Result)
	assert.Equal(t, check.Never, res.History[b].Return)
	assert.Len(t, res.TraceHash, 16)
	assert.True(t, strings.HasPrefix(res.Reproduce, "idemsim run --strategy db-unique --faults crash,ttl --seed 7"))

	// Without the digest, the hash is left out; nothing else changes.
	cfg.NoTraceHash, cfg.KeepTrace, cfg.KeepHistory = true, false, false
	r.Reset(cfg)
	r.Add(&Record{At: 1, Kind: Publish, Inst: -1, Msg: 1, Event: 1})
	res = r.Finish(cfg, Tally{Applied: []int{0, 1, 1}, Done: []bool{false, true, true}, Settled: []bool{true, true, true}})
	assert.Empty(t, res.TraceHash)
	assert.Nil(t, res.Trace)
	assert.Nil(t, res.History)
	assert.Equal(t, 0, res.Stuck)
}

// The same workload for the same config, on any backend: a workload is a
// function of the seed, and copies come in time order.
func TestWorkloadIsDeterministic(t *testing.T) {
	cfg := Config{Strategy: "none", Faults: faults.Of(faults.Redeliver, faults.TTL), Seed: 3, Events: 50}
	a, b := NewWorkload(cfg), NewWorkload(cfg)
	assert.Equal(t, a, b)
	extra := 0
	for _, n := range a.Extra {
		extra += n
	}
	assert.Len(t, a.Publishes, 50+extra)
	assert.Positive(t, a.Extra[faults.Redeliver], "redeliver's copies")
	assert.Positive(t, a.Extra[faults.TTL], "ttl's late copies")
	for i := 1; i < len(a.Publishes); i++ {
		assert.LessOrEqual(t, a.Publishes[i-1].At, a.Publishes[i].At)
	}
	for id := 1; id <= 50; id++ {
		assert.GreaterOrEqual(t, a.Events[id].Account, 1)
		assert.LessOrEqual(t, a.Events[id].Account, Accounts)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{
		{Strategy: "memcached"},
		{Strategy: "none", Instances: MaxInstances + 1},
		{Strategy: "none", Events: -1},
		{Strategy: "none", MarkTTL: -1},
		{Strategy: "none", Broker: BrokerParams{AckDeadline: -2}},
		{Strategy: "none", Broker: BrokerParams{NackRetry: -1}},
		{Strategy: "none", Broker: BrokerParams{Prefetch: -1}},
		{Strategy: "none", Broker: BrokerParams{Prefetch: MaxPrefetch + 1}},
		{Strategy: "none", Broker: BrokerParams{MaxDeliveries: -1}},
	} {
		err := c.Validate()
		assert.ErrorIs(t, err, ErrBadConfig, "%+v", c)
		assert.NotContains(t, err.Error(), "run:", "reads as the problem alone")
	}
	assert.NoError(t, Config{Strategy: "none"}.Validate())
	assert.NoError(t, Config{Strategy: "none", Broker: BrokerParams{AckDeadline: NoAckDeadline, Prefetch: 3, MaxDeliveries: 5}}.Validate())
}

// TestRecorderFinishDead: an event dead-lettered and never applied is
// dead, neither lost nor stuck nor a violation, and both checkers agree;
// one dead-lettered after it was applied is fine. Result's JSON names dead
// only when there are some, so that runs without a delivery limit print
// as they always have.
func TestRecorderFinishDead(t *testing.T) {
	var r Recorder
	cfg := Config{Strategy: "none", Seed: 1, Instances: 1, Events: 3}
	r.Reset(cfg)
	r.EndAttempt(r.BeginAttempt(0, 1, 1), Errored, 2)
	r.EndAttempt(r.BeginAttempt(0, 2, 3), Applied, 4)
	r.EndAttempt(r.BeginAttempt(0, 3, 5), Applied, 6)
	r.Ack(0, 3, 7, 8)
	res := r.Finish(cfg, Tally{Applied: []int{0, 0, 1, 1}, Done: []bool{false, false, false, true},
		Settled: []bool{true, true, true, true}, Dead: []bool{false, true, true, false}, End: 9})
	assert.Equal(t, 1, res.Dead, "event 1; event 2 was applied")
	assert.Zero(t, res.Lost)
	assert.Zero(t, res.Stuck)
	assert.False(t, res.Violating())
	assert.True(t, res.AuditOK)
	assert.True(t, res.CheckersAgree())
	b, err := json.Marshal(res)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"dead":1`)

	r.Reset(cfg)
	res = r.Finish(cfg, Tally{Applied: []int{0, 1, 1, 1}, Done: []bool{false, true, true, true}, Settled: []bool{true, true, true, true}})
	assert.Zero(t, res.Dead)
	b, err = json.Marshal(res)
	require.NoError(t, err)
	assert.NotContains(t, string(b), `"dead"`)
}
