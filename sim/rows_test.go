package sim

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

// rowStep is one step of a rowCase: transaction tx (begun, on a connection
// of its own, at its first step) makes call op on id's processed row, or
// ends (Commit, Rollback; drop: its connection dies). want is what the
// database does at that step, one line per record, in order: the step's
// own answer, and the answers of the calls it woke.
type rowStep struct {
	tx         string
	op         run.Op
	id         strategies.EventID
	old, state string // UpdateProcessed's
	drop       bool
	want       []string
}

func rRead(tx string, id strategies.EventID, want ...string) rowStep {
	return rowStep{tx: tx, op: run.Read, id: id, want: want}
}
func rDel(tx string, id strategies.EventID, want ...string) rowStep {
	return rowStep{tx: tx, op: run.Delete, id: id, want: want}
}
func rUpd(tx string, id strategies.EventID, old, state string, want ...string) rowStep {
	return rowStep{tx: tx, op: run.Update, id: id, old: old, state: state, want: want}
}
func rIns(tx string, id strategies.EventID, want ...string) rowStep {
	return rowStep{tx: tx, op: run.Insert, id: id, want: want}
}
func rInsApply(tx string, id strategies.EventID, want ...string) rowStep {
	return rowStep{tx: tx, op: run.InsertApply, id: id, want: want}
}
func rCommit(tx string, want ...string) rowStep {
	return rowStep{tx: tx, op: run.Commit, want: want}
}
func rRollback(tx string, want ...string) rowStep {
	return rowStep{tx: tx, op: run.Rollback, want: want}
}
func rDrop(tx string, want ...string) rowStep { return rowStep{tx: tx, drop: true, want: want} }

// committedRows is the setup of most cases: rows 1 (state "") and 2
// (state "v1") committed by transaction S.
var committedRows = []rowStep{
	rIns("S", 1, "S InsertProcessed e1: true"),
	rIns("S", 2, "S InsertProcessed e2: true"),
	rUpd("S", 2, "", "v1", `S UpdateProcessed e2 "v1" if "": true`),
	rCommit("S", "S Commit: true"),
}

// TestProcessedRowsAsPostgreSQL plays the rules of ReadProcessed (SELECT
// state ... FOR UPDATE under READ COMMITTED), DeleteProcessed and
// UpdateProcessed (a compare-and-set) on the simulated database, step by
// step, as strategies/store.go states them and PostgreSQL behaves.
func TestProcessedRowsAsPostgreSQL(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup []rowStep
		steps []rowStep
	}{
		{"a read finds a committed row and its state; an absent one is not found", committedRows, []rowStep{
			rRead("A", 1, `A ReadProcessed e1: found ""`),
			rRead("A", 2, `A ReadProcessed e2: found "v1"`),
			rRead("A", 3, "A ReadProcessed e3: not found"),
		}},
		{"a read locks the row: another transaction's read waits, then reads it", committedRows, []rowStep{
			rRead("A", 2, `A ReadProcessed e2: found "v1"`),
			rRead("B", 2, "B ReadProcessed e2 waits for A"),
			rRead("B", 1, `B ReadProcessed e1: found ""`),
			rCommit("A", `B ReadProcessed e2: found "v1"`, "A Commit: true"),
			rRead("C", 2, "C ReadProcessed e2 waits for B"),
		}},
		{"a waiting read sees the row as its holder left it: updated", committedRows, []rowStep{
			rUpd("A", 2, "v1", "v2", `A UpdateProcessed e2 "v2" if "v1": true`),
			rRead("A", 2, `A ReadProcessed e2: found "v2"`),
			rRead("B", 2, "B ReadProcessed e2 waits for A"),
			rCommit("A", `B ReadProcessed e2: found "v2"`, "A Commit: true"),
		}},
		{"a waiting read, delete or update of a row its holder deleted finds none", committedRows, []rowStep{
			rDel("A", 2, "A DeleteProcessed e2: true"),
			rRead("A", 2, "A ReadProcessed e2: not found"),
			rRead("B", 2, "B ReadProcessed e2 waits for A"),
			rDel("C", 2, "C DeleteProcessed e2 waits for A"),
			rUpd("D", 2, "v1", "v3", `D UpdateProcessed e2 "v3" if "v1" waits for A`),
			rCommit("A", "B ReadProcessed e2: not found", "C DeleteProcessed e2: false",
				`D UpdateProcessed e2 "v3" if "v1": false`, "A Commit: true"),
			rRead("E", 2, "E ReadProcessed e2: not found"),
		}},
		{"an abort undoes an update and a delete: the waiters find the rows as they were", committedRows, []rowStep{
			rUpd("A", 2, "v1", "v2", `A UpdateProcessed e2 "v2" if "v1": true`),
			rDel("A", 1, "A DeleteProcessed e1: true"),
			rRead("B", 2, "B ReadProcessed e2 waits for A"),
			rDel("C", 1, "C DeleteProcessed e1 waits for A"),
			rRollback("A", `B ReadProcessed e2: found "v1"`, "C DeleteProcessed e1: true", "A Rollback: true"),
			rRead("B", 1, "B ReadProcessed e1 waits for C"),
			rRollback("C", `B ReadProcessed e1: found ""`, "C Rollback: true"),
		}},
		{"a commit applies updates and deletes", committedRows, []rowStep{
			rUpd("A", 2, "v1", "v2", `A UpdateProcessed e2 "v2" if "v1": true`),
			rDel("A", 1, "A DeleteProcessed e1: true"),
			rCommit("A", "A Commit: true"),
			rRead("B", 2, `B ReadProcessed e2: found "v2"`),
			rRead("B", 1, "B ReadProcessed e1: not found"),
			rIns("B", 1, "B InsertProcessed e1: true"),
			rCommit("B", "B Commit: true"),
			rRead("C", 1, `C ReadProcessed e1: found ""`),
		}},
		{"an update is a compare-and-set: no match leaves the row, and no lock", committedRows, []rowStep{
			rUpd("A", 2, "v0", "v2", `A UpdateProcessed e2 "v2" if "v0": false`),
			rUpd("A", 3, "", "v2", `A UpdateProcessed e3 "v2" if "": false`),
			rRead("B", 2, `B ReadProcessed e2: found "v1"`),
			rUpd("B", 2, "v1", "v1", `B UpdateProcessed e2 "v1" if "v1": true`),
		}},
		{"an update whose WHERE the locked row fails does not wait", committedRows, []rowStep{
			rRead("A", 2, `A ReadProcessed e2: found "v1"`),
			rUpd("B", 2, "v0", "v2", `B UpdateProcessed e2 "v2" if "v0": false`),
			rUpd("B", 2, "v1", "v2", `B UpdateProcessed e2 "v2" if "v1" waits for A`),
			rUpd("A", 2, "v1", "x", `A UpdateProcessed e2 "x" if "v1": true`),
			rCommit("A", `B UpdateProcessed e2 "v2" if "v1": false`, "A Commit: true"),
		}},
		{"a row another open transaction inserted is not there yet: not seen, not waited for", nil, []rowStep{
			rIns("A", 5, "A InsertProcessed e5: true"),
			rRead("B", 5, "B ReadProcessed e5: not found"),
			rDel("B", 5, "B DeleteProcessed e5: false"),
			rUpd("B", 5, "", "x", `B UpdateProcessed e5 "x" if "": false`),
			rIns("B", 5, "B InsertProcessed e5 waits for A"),
			rCommit("A", "B InsertProcessed e5: false", "A Commit: true"),
			rRead("C", 5, `C ReadProcessed e5: found ""`),
		}},
		{"a transaction sees its own writes", nil, []rowStep{
			rIns("A", 5, "A InsertProcessed e5: true"),
			rRead("A", 5, `A ReadProcessed e5: found ""`),
			rUpd("A", 5, "", "s1", `A UpdateProcessed e5 "s1" if "": true`),
			rRead("A", 5, `A ReadProcessed e5: found "s1"`),
			rIns("A", 5, "A InsertProcessed e5: false"),
			rDel("A", 5, "A DeleteProcessed e5: true"),
			rRead("A", 5, "A ReadProcessed e5: not found"),
			rDel("A", 5, "A DeleteProcessed e5: false"),
			rIns("A", 5, "A InsertProcessed e5: true"),
			rRead("A", 5, `A ReadProcessed e5: found ""`),
			rCommit("A", "A Commit: true"),
			rRead("B", 5, `B ReadProcessed e5: found ""`),
		}},
		{"a row inserted, then deleted, in one transaction is not there after its commit", nil, []rowStep{
			rIns("A", 5, "A InsertProcessed e5: true"),
			rDel("A", 5, "A DeleteProcessed e5: true"),
			rIns("B", 5, "B InsertProcessed e5 waits for A"),
			rCommit("A", "B InsertProcessed e5: true", "A Commit: true"),
		}},
		{"an insert of a row another open transaction deleted waits: it inserts after a commit", committedRows, []rowStep{
			rDel("A", 1, "A DeleteProcessed e1: true"),
			rIns("B", 1, "B InsertProcessed e1 waits for A"),
			rInsApply("C", 1, "C InsertApply e1 waits for A"),
			rCommit("A", "B InsertProcessed e1: true", "C InsertApply e1 waits for B", "A Commit: true"),
			rCommit("B", "C InsertApply e1: false", "B Commit: true"),
		}},
		{"an insert of a row another open transaction deleted waits: it finds the row after an abort", committedRows, []rowStep{
			rDel("A", 1, "A DeleteProcessed e1: true"),
			rIns("B", 1, "B InsertProcessed e1 waits for A"),
			rRollback("A", "B InsertProcessed e1: false", "A Rollback: true"),
		}},
		{"an insert of a row only locked FOR UPDATE finds it at once", committedRows, []rowStep{
			rRead("A", 1, `A ReadProcessed e1: found ""`),
			rIns("B", 1, "B InsertProcessed e1: false"),
			rInsApply("C", 1, "C InsertApply e1: false"),
		}},
		{"an insert of a row another open transaction updated waits, as PostgreSQL's unique check does, and finds it", committedRows, []rowStep{
			rUpd("A", 2, "v1", "v2", `A UpdateProcessed e2 "v2" if "v1": true`),
			rIns("B", 2, "B InsertProcessed e2 waits for A"),
			rCommit("A", "B InsertProcessed e2: false", "A Commit: true"),
		}},
		{"a waiter whose connection died is dropped; the next one gets the row", committedRows, []rowStep{
			rRead("A", 1, `A ReadProcessed e1: found ""`),
			rRead("B", 1, "B ReadProcessed e1 waits for A"),
			rDel("C", 1, "C DeleteProcessed e1 waits for A"),
			rDrop("B", "B aborted"),
			rCommit("A", "C DeleteProcessed e1: true", "A Commit: true"),
		}},
		{"a holder whose connection dies is rolled back, and its waiters go on", committedRows, []rowStep{
			rDel("A", 1, "A DeleteProcessed e1: true"),
			rRead("B", 1, "B ReadProcessed e1 waits for A"),
			rDrop("A", "A aborted", `B ReadProcessed e1: found ""`),
		}},
		{"two transactions waiting for each other's rows: the first one's rollback breaks the cycle", committedRows, []rowStep{
			rRead("A", 1, `A ReadProcessed e1: found ""`),
			rRead("B", 2, `B ReadProcessed e2: found "v1"`),
			rRead("A", 2, "A ReadProcessed e2 waits for B"),
			rRead("B", 1, "B ReadProcessed e1 waits for A"),
			rDrop("A", "A aborted", `B ReadProcessed e1: found ""`),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newDBBench(t)
			txs := map[string]int32{}
			names := map[int32]string{}
			for _, st := range append(append([]rowStep{}, tc.setup...), tc.steps...) {
				tx, ok := txs[st.tx]
				if !ok {
					tx = b.tx()
					txs[st.tx], names[tx] = tx, st.tx
				}
				var recs []run.Record
				if st.drop {
					from := len(b.w.rec.Trace())
					b.w.db.connDeadNow(b.w.db.txs[tx].conn)
					b.w.applyDB()
					recs = b.w.rec.Trace()[from:]
				} else {
					_, recs = b.doRow(0, tx, st.op, st.id, st.old, st.state)
				}
				var got []string
				for _, r := range recs {
					got = append(got, showRow(r, names))
				}
				require.Equal(t, st.want, got, "step %+v", st)
			}
		})
	}
}

// doRow executes call op of tx on id's row, with an UpdateProcessed's
// strings, as dbBench.do does.
func (b *dbBench) doRow(inst int32, tx int32, o run.Op, id strategies.EventID, old, state string) (uint32, []run.Record) {
	w := b.w
	from := len(w.rec.Trace())
	c := call{inst: inst, op: o, ev: strategies.Event{ID: id, Account: 1, Amount: 1}, tx: tx, start: w.now}
	if o == run.Read || o == run.Update {
		w.kvs = append(w.kvs, kvCall{value: state, aux: old})
		c.kv = uint32(len(w.kvs) - 1)
	}
	w.calls = append(w.calls, c)
	id32 := uint32(len(w.calls) - 1)
	w.serveDB(id32)
	return id32, w.rec.Trace()[from:]
}

// showRow renders a database record for TestProcessedRowsAsPostgreSQL,
// naming transactions by their names in the case.
func showRow(r run.Record, names map[int32]string) string {
	call := fmt.Sprintf("%s %s", names[int32(r.Tx)], r.Op)
	if r.Event != 0 && r.Op != run.Commit && r.Op != run.Rollback {
		call += fmt.Sprintf(" e%d", r.Event)
	}
	if r.Op == run.Update {
		call += fmt.Sprintf(" %q if %q", r.Value, r.Expect)
	}
	switch r.Kind {
	case run.Park:
		return fmt.Sprintf("%s waits for %s", call, names[int32(r.Holder)])
	case run.TxAbort:
		return names[int32(r.Tx)] + " aborted"
	case run.Serve:
		if r.Op == run.Read {
			if r.Answer == run.Yes {
				return fmt.Sprintf("%s: found %q", call, r.Value)
			}
			return call + ": not found"
		}
		return call + ": " + r.Answer.String()
	}
	return fmt.Sprintf("unexpected %s record: %s", r.Kind, r.Detail())
}

// A parked ReadProcessed times out as a parked insert does: its timer is
// armed at the call timeout when it parks.
func TestParkedReadTimesOut(t *testing.T) {
	b := newDBBench(t)
	s, a, c := b.tx(), b.tx(), b.tx()
	b.doRow(0, s, run.Insert, 1, "", "")
	b.doRow(0, s, run.Commit, 0, "", "")
	b.doRow(0, a, run.Delete, 1, "", "")
	b.w.now = int64(7e6)
	id, recs := b.doRow(1, c, run.Read, 1, "", "")
	require.Equal(t, []run.Kind{run.Park}, kinds(recs))
	at, ok := b.timerOf(id)
	require.True(t, ok, "a parked read times out if the lock never frees")
	assert.Equal(t, b.w.now+int64(callTimeout), at)
}
