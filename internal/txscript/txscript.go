package txscript

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/idemsim/idemsim/strategies"
)

// Step is one statement of one transaction of a scenario.
type Step struct {
	Tx int // the transaction, numbered from 1 (0 sets up Rows); it begins at its first step
	// Op is "insert", "read", "delete", "update", "commit" or "rollback",
	// or, on the offsets table, "read-offset" or "advance".
	Op string
	ID int // the row's id, or the offset row's partition, added to the scenario's base
	// Old and State are an update's condition and new state; an
	// advance's expected and next offsets, in decimal.
	Old, State string
	// Want is the answer: "true" or "false" (insert, delete, update,
	// advance), "found:<state>" or "absent" (read), the offset in decimal
	// (read-offset), "ok" (commit, rollback).
	Want string
	// Until, if not 0, says the step waits: it has not answered when the
	// steps after it up to step Until (numbered from 1) are done, and
	// answers Want right after that one.
	Until int
}

// Scenario is a sequence of steps on rows that exist, committed, at its
// start (Rows: id to state; Offsets: partition to next offset).
type Scenario struct {
	Name    string
	Rows    map[int]string
	Offsets map[int]int64
	Steps   []Step
}

// S is shorthand for a step.
func S(tx int, op string, id int, want string) Step {
	return Step{Tx: tx, Op: op, ID: id, Want: want}
}

// U is shorthand for an update step.
func U(tx, id int, old, state, want string) Step {
	return Step{Tx: tx, Op: "update", ID: id, Old: old, State: state, Want: want}
}

// RO is shorthand for a read-offset step of partition p.
func RO(tx, p int, want int64) Step {
	return Step{Tx: tx, Op: "read-offset", ID: p, Want: strconv.FormatInt(want, 10)}
}

// A is shorthand for an advance step of partition p.
func A(tx, p int, expect, next int64, want string) Step {
	return Step{Tx: tx, Op: "advance", ID: p, Old: strconv.FormatInt(expect, 10), State: strconv.FormatInt(next, 10), Want: want}
}

// End is shorthand for a commit or a rollback.
func End(tx int, op string) Step { return Step{Tx: tx, Op: op, Want: "ok"} }

// Waits makes s a step that waits until step until is done.
func Waits(s Step, until int) Step { s.Until = until; return s }

// Scenarios are the rules of the processed-ids table that strategies.Tx
// documents, one scenario or more per rule.
func Scenarios() []Scenario {
	return []Scenario{
		{Name: "own writes are visible, others' only once committed", Steps: []Step{
			S(1, "insert", 1, "true"),
			S(1, "read", 1, "found:"),
			U(1, 1, "", "a", "true"),
			S(1, "read", 1, "found:a"),
			S(2, "read", 1, "absent"), // not waited for
			S(2, "delete", 1, "false"),
			U(2, 1, "", "b", "false"),
			End(1, "commit"),
			S(2, "read", 1, "found:a"), // a new statement sees the commit
			End(2, "commit"),
		}},
		{Name: "an insert waits for another's insert of the id: commit", Steps: []Step{
			S(1, "insert", 1, "true"),
			Waits(S(2, "insert", 1, "false"), 3),
			End(1, "commit"),
			End(2, "commit"),
		}},
		{Name: "an insert waits for another's insert of the id: rollback", Steps: []Step{
			S(1, "insert", 1, "true"),
			Waits(S(2, "insert", 1, "true"), 3),
			End(1, "rollback"),
			S(2, "read", 1, "found:"),
			End(2, "commit"),
		}},
		{Name: "FOR UPDATE waits for the lock, then reads the row as left", Rows: map[int]string{1: "a"}, Steps: []Step{
			S(1, "read", 1, "found:a"),
			Waits(S(2, "read", 1, "found:b"), 4),
			U(1, 1, "a", "b", "true"),
			End(1, "commit"),
			End(2, "commit"),
		}},
		{Name: "the lock is held to the transaction's end", Rows: map[int]string{1: "a"}, Steps: []Step{
			S(1, "read", 1, "found:a"),
			Waits(S(2, "delete", 1, "true"), 4),
			S(1, "read", 1, "found:a"), // its own lock: no wait
			End(1, "rollback"),
			S(2, "read", 1, "absent"),
			End(2, "commit"),
			S(3, "read", 1, "absent"),
			End(3, "commit"),
		}},
		{Name: "a read waits for another's delete: commit, the row is gone", Rows: map[int]string{1: "a"}, Steps: []Step{
			S(1, "delete", 1, "true"),
			Waits(S(2, "read", 1, "absent"), 3),
			End(1, "commit"),
			End(2, "commit"),
		}},
		{Name: "a read waits for another's delete: rollback, the row stays", Rows: map[int]string{1: "a"}, Steps: []Step{
			S(1, "delete", 1, "true"),
			Waits(S(2, "read", 1, "found:a"), 3),
			End(1, "rollback"),
			End(2, "commit"),
		}},
		{Name: "an update whose condition the committed row misses does not wait", Rows: map[int]string{1: "a"}, Steps: []Step{
			U(1, 1, "a", "b", "true"),
			U(2, 1, "b", "c", "false"), // it sees a, not the open b
			Waits(U(2, 1, "a", "c", "false"), 4),
			End(1, "commit"), // b now: the waiting update checks again, fails, keeps the lock
			Waits(S(3, "read", 1, "found:b"), 6),
			End(2, "rollback"),
			End(3, "commit"),
		}},
		{Name: "an update waits for a lock, then matches", Rows: map[int]string{1: "a"}, Steps: []Step{
			S(1, "read", 1, "found:a"),
			Waits(U(2, 1, "a", "b", "true"), 3),
			End(1, "commit"),
			End(2, "commit"),
			S(3, "read", 1, "found:b"),
			End(3, "commit"),
		}},
		{Name: "an update does not wait for a lock if it misses", Rows: map[int]string{1: "a"}, Steps: []Step{
			S(1, "read", 1, "found:a"),
			U(2, 1, "z", "b", "false"),
			End(1, "commit"),
			End(2, "commit"),
		}},
		{Name: "an insert does not wait for a FOR UPDATE lock", Rows: map[int]string{1: "a"}, Steps: []Step{
			S(1, "read", 1, "found:a"),
			S(2, "insert", 1, "false"),
			End(1, "commit"),
			End(2, "commit"),
		}},
		{Name: "an insert waits for another's update", Rows: map[int]string{1: "a"}, Steps: []Step{
			U(1, 1, "a", "b", "true"),
			Waits(S(2, "insert", 1, "false"), 3),
			End(1, "commit"),
			End(2, "commit"),
		}},
		{Name: "an insert waits for another's delete: commit, it inserts", Rows: map[int]string{1: "a"}, Steps: []Step{
			S(1, "delete", 1, "true"),
			Waits(S(2, "insert", 1, "true"), 3),
			End(1, "commit"),
			S(2, "read", 1, "found:"),
			End(2, "commit"),
		}},
		{Name: "an insert waits for another's delete: rollback, it conflicts", Rows: map[int]string{1: "a"}, Steps: []Step{
			S(1, "delete", 1, "true"),
			Waits(S(2, "insert", 1, "false"), 3),
			End(1, "rollback"),
			S(2, "read", 1, "found:a"),
			End(2, "commit"),
		}},
		{Name: "a row deleted and inserted again is a new row", Rows: map[int]string{1: "a"}, Steps: []Step{
			S(1, "delete", 1, "true"),
			S(1, "read", 1, "absent"),
			S(1, "delete", 1, "false"),
			U(1, 1, "a", "b", "false"),
			S(1, "insert", 1, "true"),
			S(1, "read", 1, "found:"),
			Waits(S(2, "read", 1, "absent"), 8), // it waited on the old row, which is gone
			End(1, "commit"),
			End(2, "commit"),
			S(3, "read", 1, "found:"),
			End(3, "commit"),
		}},
		{Name: "an insert deleted by its own transaction still holds the id", Steps: []Step{
			S(1, "insert", 1, "true"),
			S(1, "delete", 1, "true"),
			S(1, "read", 1, "absent"),
			Waits(S(2, "insert", 1, "true"), 5),
			End(1, "commit"),
			End(2, "commit"),
		}},
		{Name: "rollback undoes updates, deletes and inserts", Rows: map[int]string{1: "a", 2: "b"}, Steps: []Step{
			U(1, 1, "a", "x", "true"),
			S(1, "delete", 2, "true"),
			S(1, "insert", 3, "true"),
			U(1, 3, "", "y", "true"),
			End(1, "rollback"),
			S(2, "read", 1, "found:a"),
			S(2, "read", 2, "found:b"),
			S(2, "read", 3, "absent"),
			End(2, "commit"),
		}},
		{Name: "a delete waits for an update, then deletes the updated row", Rows: map[int]string{1: "a"}, Steps: []Step{
			U(1, 1, "a", "b", "true"),
			Waits(S(2, "delete", 1, "true"), 3),
			End(1, "commit"),
			U(2, 1, "b", "c", "false"), // its own delete
			End(2, "commit"),
			S(3, "read", 1, "absent"),
			End(3, "commit"),
		}},
	}
}

// OffsetScenarios are the rules of the log's offsets table that
// strategies.Tx documents (ReadOffset, AdvanceOffset), one scenario or
// more per rule. Their IDs are partitions.
func OffsetScenarios() []Scenario {
	return []Scenario{
		{Name: "own writes are visible, others' only once committed", Steps: []Step{
			A(1, 1, 0, 5, "true"), // no row counts as 0: it is inserted
			RO(1, 1, 5),
			A(1, 1, 5, 6, "true"),
			RO(2, 1, 0),            // another's insert: not there, not waited for
			A(2, 1, 6, 7, "false"), // an UPDATE does not see it either
			End(1, "commit"),
			RO(2, 1, 6), // a new statement sees the commit
			End(2, "commit"),
		}},
		{Name: "a missing row is 0 only for an expected 0", Steps: []Step{
			A(1, 1, 3, 4, "false"),
			RO(1, 1, 0),
			End(1, "commit"),
			RO(2, 1, 0),
			End(2, "commit"),
		}},
		{Name: "an insert waits for another's insert: commit, it misses and locks", Steps: []Step{
			A(1, 1, 0, 1, "true"),
			Waits(A(2, 1, 0, 9, "false"), 3),
			End(1, "commit"),
			Waits(RO(3, 1, 1), 6), // ON CONFLICT DO UPDATE locked the row it did not update
			RO(2, 1, 1),
			End(2, "commit"),
			End(3, "commit"),
		}},
		{Name: "an insert waits for another's insert: rollback, it inserts", Steps: []Step{
			A(1, 1, 0, 1, "true"),
			Waits(A(2, 1, 0, 2, "true"), 3),
			End(1, "rollback"),
			RO(2, 1, 2),
			End(2, "commit"),
			RO(3, 1, 2),
			End(3, "commit"),
		}},
		{Name: "FOR UPDATE waits for the lock, then reads the row as left", Offsets: map[int]int64{1: 5}, Steps: []Step{
			RO(1, 1, 5),
			Waits(RO(2, 1, 6), 4),
			A(1, 1, 5, 6, "true"),
			End(1, "commit"),
			End(2, "commit"),
		}},
		{Name: "two owners race on one offset: one advances, the other waits, then misses", Offsets: map[int]int64{1: 5}, Steps: []Step{
			A(1, 1, 5, 6, "true"),
			Waits(A(2, 1, 5, 6, "false"), 3),
			End(1, "commit"),
			Waits(RO(3, 1, 6), 5), // the missed update kept the lock of the row it checked again
			End(2, "commit"),
			End(3, "commit"),
		}},
		{Name: "the waiting owner advances if the first rolls back", Offsets: map[int]int64{1: 5}, Steps: []Step{
			A(1, 1, 5, 6, "true"),
			Waits(A(2, 1, 5, 6, "true"), 3),
			End(1, "rollback"),
			End(2, "commit"),
			RO(3, 1, 6),
			End(3, "commit"),
		}},
		{Name: "an advance whose expected offset the committed row misses does not wait", Offsets: map[int]int64{1: 5}, Steps: []Step{
			RO(1, 1, 5),
			A(2, 1, 4, 5, "false"),
			A(2, 1, 6, 7, "false"),
			End(1, "commit"),
			End(2, "commit"),
		}},
		{Name: "an insert on a committed row locks it even when it misses", Offsets: map[int]int64{1: 5}, Steps: []Step{
			A(1, 1, 0, 1, "false"),
			Waits(RO(2, 1, 5), 3),
			End(1, "commit"),
			End(2, "commit"),
		}},
		{Name: "an insert waits for a lock on a committed row", Offsets: map[int]int64{1: 5}, Steps: []Step{
			RO(1, 1, 5),
			Waits(A(2, 1, 0, 1, "false"), 3),
			End(1, "commit"),
			End(2, "commit"),
		}},
		{Name: "partitions are apart; rollback undoes advances and inserts", Offsets: map[int]int64{1: 5}, Steps: []Step{
			A(1, 1, 5, 6, "true"),
			A(1, 2, 0, 3, "true"),
			RO(2, 3, 0),
			A(2, 3, 0, 1, "true"),
			End(1, "rollback"),
			End(2, "commit"),
			RO(3, 1, 5),
			RO(3, 2, 0),
			RO(3, 3, 1),
			End(3, "commit"),
		}},
	}
}

// result is a step's answer, as Step.Want spells it.
type result struct {
	got string
	err error
}

// Play plays sc on l: ids are base+Step.ID, so that scenarios on a shared
// table do not meet. A step that waits is run as a goroutine and must not
// answer within settle; every other step must answer within five seconds.
func Play(t *testing.T, l strategies.Ledger, base strategies.EventID, sc Scenario, settle time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	id := func(n int) strategies.EventID { return base + strategies.EventID(n) }

	txs := map[int]strategies.Tx{}
	busy := map[int]int{} // tx -> the waiting step it runs (numbered from 1)
	waiting := map[int]chan result{}
	defer func() {
		// Whatever happened, end every transaction: a step still
		// waiting ends with ctx first.
		cancel()
		for _, tx := range txs {
			rctx, stop := context.WithTimeout(context.Background(), 2*time.Second)
			_ = tx.Rollback(rctx)
			stop()
		}
	}()
	// The rows at the start, committed by one transaction.
	if len(sc.Rows) > 0 {
		tx, err := l.Begin(ctx)
		if err != nil {
			t.Fatalf("setup: begin: %v", err)
		}
		txs[0] = tx
		for n, state := range sc.Rows {
			if ok, err := tx.InsertProcessed(ctx, id(n)); err != nil || !ok {
				t.Fatalf("setup: insert %d: %v, %v", n, ok, err)
			}
			if ok, err := tx.UpdateProcessed(ctx, id(n), "", state); err != nil || !ok {
				t.Fatalf("setup: update %d: %v, %v", n, ok, err)
			}
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatalf("setup: commit: %v", err)
		}
		delete(txs, 0)
	}
	if len(sc.Offsets) > 0 {
		tx, err := l.Begin(ctx)
		if err != nil {
			t.Fatalf("setup: begin: %v", err)
		}
		txs[0] = tx
		for p, next := range sc.Offsets {
			if ok, err := tx.AdvanceOffset(ctx, int(base)+p, 0, next); err != nil || !ok {
				t.Fatalf("setup: offset of partition %d: %v, %v", p, ok, err)
			}
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatalf("setup: commit: %v", err)
		}
		delete(txs, 0)
	}

	for i, s := range sc.Steps {
		n := i + 1
		if w, ok := busy[s.Tx]; ok {
			t.Fatalf("step %d: tx %d is still waiting on step %d: a bad scenario", n, s.Tx, w)
		}
		tx := txs[s.Tx]
		if tx == nil {
			var err error
			if tx, err = l.Begin(ctx); err != nil {
				t.Fatalf("step %d: begin tx %d: %v", n, s.Tx, err)
			}
			txs[s.Tx] = tx
		}
		done := make(chan result, 1)
		go func() { done <- do(ctx, tx, s, id(s.ID)) }()
		if s.Until != 0 {
			select {
			case r := <-done:
				t.Fatalf("step %d (tx %d %s %d): want it to wait until step %d, it answered %s", n, s.Tx, s.Op, s.ID, s.Until, r)
			case <-time.After(settle):
			}
			busy[s.Tx], waiting[n] = n, done
		} else {
			check(t, n, s, await(t, n, done))
		}
		// The waiting steps this one releases answer now; the others
		// still wait.
		for w, ch := range waiting {
			ws := sc.Steps[w-1]
			if ws.Until == n {
				check(t, w, ws, await(t, w, ch))
				delete(waiting, w)
				delete(busy, ws.Tx)
				continue
			}
			select {
			case r := <-ch:
				t.Fatalf("step %d (tx %d %s %d): answered %s after step %d, want it to wait until step %d", w, ws.Tx, ws.Op, ws.ID, r, n, ws.Until)
			default:
			}
		}
		if s.Op == "commit" || s.Op == "rollback" {
			delete(txs, s.Tx)
		}
	}
	if len(waiting) > 0 {
		t.Fatalf("steps still waiting at the end: %v", waiting)
	}
}

func (r result) String() string {
	if r.err != nil {
		return "error " + r.err.Error()
	}
	return strconv.Quote(r.got)
}

func await(t *testing.T, n int, ch chan result) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(5 * time.Second):
		t.Fatalf("step %d did not answer within 5 s", n)
	}
	return result{}
}

func check(t *testing.T, n int, s Step, r result) {
	t.Helper()
	if r.err != nil || r.got != s.Want {
		t.Fatalf("step %d (tx %d %s %d %q->%q): got %s, want %q", n, s.Tx, s.Op, s.ID, s.Old, s.State, r, s.Want)
	}
}

// do runs one step on tx.
func do(ctx context.Context, tx strategies.Tx, s Step, id strategies.EventID) result {
	var ok bool
	var err error
	switch s.Op {
	case "insert":
		ok, err = tx.InsertProcessed(ctx, id)
	case "delete":
		ok, err = tx.DeleteProcessed(ctx, id)
	case "update":
		ok, err = tx.UpdateProcessed(ctx, id, s.Old, s.State)
	case "read":
		state, found, err := tx.ReadProcessed(ctx, id)
		if !found {
			return result{"absent", err}
		}
		return result{"found:" + state, err}
	case "read-offset":
		next, err := tx.ReadOffset(ctx, int(id))
		return result{strconv.FormatInt(next, 10), err}
	case "advance":
		expect, err1 := strconv.ParseInt(s.Old, 10, 64)
		next, err2 := strconv.ParseInt(s.State, 10, 64)
		if err1 != nil || err2 != nil {
			return result{err: fmt.Errorf("txscript: bad offsets %q, %q", s.Old, s.State)}
		}
		ok, err = tx.AdvanceOffset(ctx, int(id), expect, next)
	case "commit":
		return result{"ok", tx.Commit(ctx)}
	case "rollback":
		return result{"ok", tx.Rollback(ctx)}
	default:
		return result{err: fmt.Errorf("txscript: unknown op %q", s.Op)}
	}
	return result{strconv.FormatBool(ok), err}
}
