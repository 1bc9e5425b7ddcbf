package sim

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/internal/txscript"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

// The rules of the log's offsets table, played on the simulated database:
// the scenarios memstore and PostgreSQL pass (internal/txscript). A step
// waits if the database parks its call, and must answer exactly when the
// step that releases it is done.
func TestOffsetScenariosAsPostgreSQL(t *testing.T) {
	for _, sc := range txscript.OffsetScenarios() {
		t.Run(sc.Name, func(t *testing.T) { playOffsets(t, sc) })
	}
}

func playOffsets(t *testing.T, sc txscript.Scenario) {
	b := newDBBench(t)
	if len(sc.Offsets) > 0 {
		setup := b.tx()
		for p, next := range sc.Offsets {
			_, recs := b.doOffset(setup, txscript.A(0, p, 0, next, "true"))
			require.Equal(t, "true", answerOf1(t, recs), "setup of partition %d", p)
		}
		b.doOffset(setup, txscript.End(0, "commit"))
	}
	playSteps(t, b, sc, b.doOffset)
}

// playSteps plays sc's steps on b's database, each by do, in a
// transaction of its own per sc's numbering, and holds every answer, and
// every wait, to the script.
func playSteps(t *testing.T, b *dbBench, sc txscript.Scenario, do func(tx int32, s txscript.Step) (uint32, []run.Record)) {
	txs := map[int]int32{}
	txOf := func(n int) int32 {
		tx, ok := txs[n]
		if !ok {
			tx = b.tx()
			txs[n] = tx
		}
		return tx
	}
	waiting := map[uint32]int{} // call → the waiting step (numbered from 1)
	for i, s := range sc.Steps {
		n := i + 1
		id, recs := do(txOf(s.Tx), s)
		answered := map[uint32]string{}
		parked := false
		for _, r := range recs {
			switch r.Kind {
			case run.Park:
				require.Equal(t, id, r.Call, "step %d: only its own call parks", n)
				parked = true
			case run.Serve:
				answered[r.Call] = answerText(r)
			}
		}
		if s.Until != 0 {
			require.True(t, parked, "step %d (%+v): want it to wait until step %d", n, s, s.Until)
			waiting[id] = n
		} else {
			require.False(t, parked, "step %d (%+v): it waits, want %q at once", n, s, s.Want)
			assert.Equal(t, s.Want, answered[id], "step %d (%+v)", n, s)
		}
		for c, w := range waiting {
			ws := sc.Steps[w-1]
			got, ok := answered[c]
			if ws.Until == n {
				require.True(t, ok, "step %d (%+v): still waits after step %d", w, ws, n)
				assert.Equal(t, ws.Want, got, "step %d (%+v), after step %d", w, ws, n)
				delete(waiting, c)
				continue
			}
			require.False(t, ok, "step %d (%+v): answered %q after step %d, want it to wait until step %d", w, ws, got, n, ws.Until)
		}
	}
	require.Empty(t, waiting, "steps still waiting at the end")
}

// doOffset executes step s of txscript as a call of tx, with its strings as
// simTx makes them.
func (b *dbBench) doOffset(tx int32, s txscript.Step) (uint32, []run.Record) {
	w := b.w
	from := len(w.rec.Trace())
	c := call{ev: strategies.Event{ID: 1, Partition: s.ID}, tx: tx, start: w.now}
	switch s.Op {
	case "read-offset":
		c.op = run.ReadOffset
		w.kvs = append(w.kvs, kvCall{})
		c.kv = uint32(len(w.kvs) - 1)
	case "advance":
		c.op = run.AdvanceOffset
		w.kvs = append(w.kvs, kvCall{value: s.State, aux: s.Old})
		c.kv = uint32(len(w.kvs) - 1)
	case "commit":
		c.op = run.Commit
	case "rollback":
		c.op = run.Rollback
	default:
		b.t.Fatalf("not an offsets step: %q", s.Op)
	}
	w.calls = append(w.calls, c)
	id := uint32(len(w.calls) - 1)
	w.serveDB(id)
	return id, w.rec.Trace()[from:]
}

// answerText is a served call's answer as txscript spells it.
func answerText(r run.Record) string {
	switch {
	case r.Op == run.ReadOffset && r.Answer == run.Yes:
		return r.Value
	case r.Op == run.Read && r.Answer == run.Yes:
		return "found:" + r.Value
	case r.Op == run.Read && r.Answer == run.No:
		return "absent"
	case r.Op == run.Commit || r.Op == run.Rollback:
		if r.Answer == run.Yes {
			return "ok"
		}
	case r.Answer == run.Yes:
		return "true"
	case r.Answer == run.No:
		return "false"
	}
	return r.Answer.String()
}

func answerOf1(t *testing.T, recs []run.Record) string {
	t.Helper()
	require.Len(t, recs, 1)
	return answerText(recs[0])
}

// An offset call parked behind a lock times out as a parked insert does,
// and a holder whose connection dies frees the row for its waiters.
func TestParkedOffsetCallTimesOutAndDeadHolderFrees(t *testing.T) {
	b := newDBBench(t)
	s, a, c := b.tx(), b.tx(), b.tx()
	b.doOffset(s, txscript.A(0, 2, 0, 5, "true"))
	b.doOffset(s, txscript.End(0, "commit"))
	b.doOffset(a, txscript.RO(0, 2, 5))
	b.w.now = int64(7e6)
	id, recs := b.doOffset(c, txscript.A(0, 2, 5, 6, "true"))
	require.Equal(t, []run.Kind{run.Park}, kinds(recs))
	at, ok := b.timerOf(id)
	require.True(t, ok, "a parked advance times out if the lock never frees")
	assert.Equal(t, b.w.now+int64(callTimeout), at)

	from := len(b.w.rec.Trace())
	b.w.db.connDeadNow(b.w.db.txs[a].conn)
	b.w.applyDB()
	var got []string
	for _, r := range b.w.rec.Trace()[from:] {
		got = append(got, fmt.Sprintf("%s %s", r.Kind, r.Detail()))
	}
	assert.Equal(t, []string{
		fmt.Sprintf("tx-abort tx%d", a),
		fmt.Sprintf("serve c%d AdvanceOffset tx%d p2 6 if 5: true", id, c),
	}, got)
}

// The records of the offset calls say the partition and the offsets, and
// the trace digest covers them.
func TestOffsetRecords(t *testing.T) {
	b := newDBBench(t)
	tx := b.tx()
	_, recs := b.doOffset(tx, txscript.A(0, 3, 0, 8, "true"))
	require.Len(t, recs, 1)
	assert.Equal(t, "c1 AdvanceOffset tx1 p3 8 if 0: true", recs[0].Detail())
	assert.Equal(t, int32(3), recs[0].Part)
	_, recs = b.doOffset(tx, txscript.RO(0, 3, 8))
	assert.Equal(t, "c2 ReadOffset tx1 p3: \"8\"", recs[0].Detail())
	_, recs = b.doOffset(tx, txscript.RO(0, 4, 0))
	assert.Equal(t, "c3 ReadOffset tx1 p4: \"0\"", recs[0].Detail(), "no row reads 0")
	call := b.w.callRecord(run.Call, 2)
	assert.Equal(t, "c2 ReadOffset tx1 p3", call.Detail(), "a call's record shows no answer")
	assert.Equal(t, "", call.Value)

	digest := func(r run.Record) uint64 {
		var rec run.Recorder
		rec.Add(&r)
		return rec.Hash()
	}
	r := recs[0]
	other := r
	other.Part = 5
	assert.NotEqual(t, digest(r), digest(other), "the partition is digested")
	other = r
	other.Value = strconv.Itoa(9)
	assert.NotEqual(t, digest(r), digest(other), "the offset is digested")
}

// accountSeq numbers each account's applications in the offsets table
// (the account as the partition): read the account's next number FOR
// UPDATE, advance it, apply, commit. It makes every offset call inside a
// transaction that also applies, on any broker.
type accountSeq struct{ l strategies.Ledger }

func (s accountSeq) Handle(ctx context.Context, e strategies.Event) (strategies.Outcome, error) {
	tx, err := s.l.Begin(ctx)
	if err != nil {
		return 0, err
	}
	n, err := tx.ReadOffset(ctx, e.Account)
	if err != nil {
		_ = tx.Rollback(ctx)
		return 0, err
	}
	if ok, err := tx.AdvanceOffset(ctx, e.Account, n, n+1); err != nil || !ok {
		_ = tx.Rollback(ctx)
		return 0, fmt.Errorf("advance %d: %v, %v", n, ok, err)
	}
	if err := tx.Apply(ctx, e); err != nil {
		_ = tx.Rollback(ctx)
		return 0, err
	}
	return strategies.Applied, tx.Commit(ctx)
}

// The offset calls through the simulator under every scenario: every run
// ends, the checkers agree, nothing is stuck, a seed replays byte for
// byte, both calls are made, and some wait for a lock, are held by a
// partition or time out; the numbers an account's transactions read and
// write follow each other, so no two committed transactions advanced an
// account from the same number.
func TestOffsetCallsInRuns(t *testing.T) {
	register(t, strategies.Strategy{Name: "test-account-seq",
		New: func(d strategies.Deps) (strategies.Handler, error) { return accountSeq{d.Ledger}, nil }})
	seeds := 4
	if testing.Short() {
		seeds = 2
	}
	made := map[run.Op]bool{}
	troubled := map[run.Op]bool{}
	for _, sc := range faults.Scenarios() {
		for s := 1; s <= seeds; s++ {
			cfg := Config{Strategy: "test-account-seq", Faults: sc, Seed: uint64(s), Events: 40, KeepTrace: true}
			r, err := Run(cfg)
			require.NoError(t, err, cfg.Reproduce())
			require.True(t, r.CheckersAgree(), "checkers disagree: %s", cfg.Reproduce())
			require.Zero(t, r.Stuck, "stuck: %s", cfg.Reproduce())
			again, err := Run(cfg)
			require.NoError(t, err)
			require.Equal(t, r.TraceHash, again.TraceHash, "replay: %s", cfg.Reproduce())
			advanced := map[string]bool{} // "p3 5": a committed advance of p3 from 5
			open := map[uint32][]string{} // tx → its advances, until it commits
			for _, rec := range r.Trace {
				switch {
				case rec.Kind == run.Call:
					made[rec.Op] = true
					if isOffsetOp(rec.Op) {
						require.Positive(t, rec.Part, "%s: %s", rec, cfg.Reproduce())
					}
				case rec.Kind == run.CallHeld || rec.Kind == run.Timeout || rec.Kind == run.Park:
					troubled[rec.Op] = true
				}
				if rec.Kind != run.Serve {
					continue
				}
				switch {
				case rec.Op == run.AdvanceOffset && rec.Answer == run.Yes:
					open[rec.Tx] = append(open[rec.Tx], fmt.Sprintf("p%d %s", rec.Part, rec.Expect))
				case rec.Op == run.Commit && rec.Answer == run.Yes:
					for _, a := range open[rec.Tx] {
						require.False(t, advanced[a], "two commits advanced %s: %s", a, cfg.Reproduce())
						advanced[a] = true
					}
				}
			}
		}
	}
	for _, op := range []run.Op{run.ReadOffset, run.AdvanceOffset} {
		assert.True(t, made[op], "%s never made", op)
	}
	assert.True(t, troubled[run.ReadOffset], "ReadOffset never held, timed out or parked")
}
