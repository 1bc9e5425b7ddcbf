package check

import (
	"fmt"
	"time"

	"github.com/anishathalye/porcupine"
)

// The downstream: a strategy that sends events on (strategies.Publisher)
// has its downstream consumer judged too. A downstream event announces
// one upstream effect (the transaction that applied it); the consumer
// deduplicates the copies of each downstream event (db-unique, keyed by
// the event and the effect it announces), so what the checkers find is
// the upstream strategy's doing:
//   - ghost: the consumer applied an event whose effect never committed
//     upstream (it was sent for a transaction that rolled back);
//   - lost: an upstream effect committed, and no event announcing a
//     committed effect of that event was ever applied downstream (it was
//     never sent, or never reached the topic);
//   - dup: the consumer applied events announcing two committed effects
//     of one upstream event (the upstream applied it twice).
//
// Both checkers judge it. The porcupine model below checks the history of
// the downstream consumer's handlings, as the consumer reported them
// (applied or skipped), against the final count of the upstream's
// committed effects; AuditDownstream counts the downstream ledger's rows.

// DownKind says what a DownOp is.
type DownKind uint8

const (
	// DownApplied: the downstream consumer applied a downstream event.
	DownApplied DownKind = iota + 1
	// DownSkipped: it skipped a copy of one it had applied.
	DownSkipped
	// DownRead: the final read of the upstream's committed effects of
	// the event.
	DownRead
)

// DownOp is one operation of a downstream history.
type DownOp struct {
	Kind         DownKind
	Event        uint64 // the upstream event, from 1
	Call, Return int64
	// Ghost says that the effect the downstream event announces never
	// committed upstream (DownApplied, DownSkipped).
	Ghost bool
	// Count is, for a DownRead, the upstream's committed effects of the
	// event.
	Count int
}

// String describes the operation as the visualization shows it.
func (o DownOp) String() string {
	ghost := ""
	if o.Ghost {
		ghost = ", a ghost"
	}
	switch o.Kind {
	case DownApplied:
		return fmt.Sprintf("down-apply(e%d%s) -> applied", o.Event, ghost)
	case DownSkipped:
		return fmt.Sprintf("down-apply(e%d%s) -> skipped", o.Event, ghost)
	case DownRead:
		return fmt.Sprintf("read-upstream(e%d) -> %d", o.Event, o.Count)
	}
	return "?"
}

// downState is, per event, how many events announcing a committed effect
// the consumer applied (0 or 1; more has no legal place).
type downState uint8

func downStep(st downState, o DownOp) (downState, bool) {
	switch o.Kind {
	case DownApplied:
		// A ghost applied has no legal place, nor a second committed
		// effect's event.
		if o.Ghost || st == 1 {
			return st, false
		}
		return 1, true
	case DownSkipped:
		return st, true
	case DownRead:
		// Exactly one if the upstream committed an effect, none if not.
		return st, o.Count >= 1 && st == 1 || o.Count == 0 && st == 0
	}
	return st, false
}

// DownModel is the exactly-once model of the downstream for porcupine,
// partitioned by event id.
var DownModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		ids := make([]uint64, len(history))
		for i, op := range history {
			ids[i] = op.Input.(*DownOp).Event
		}
		var g grouper[porcupine.Operation]
		return g.group(history, ids)
	},
	Init: func() interface{} { return downState(0) },
	Step: func(st, in, _ interface{}) (bool, interface{}) {
		next, ok := downStep(st.(downState), *in.(*DownOp))
		return ok, next
	},
	Equal:             func(a, b interface{}) bool { return a.(downState) == b.(downState) },
	DescribeOperation: func(in, _ interface{}) string { return in.(*DownOp).String() },
	DescribeState:     func(s interface{}) string { return fmt.Sprintf("applied=%d", s.(downState)) },
}

// DownVerdict checks a downstream history with porcupine: true, false, or
// nil when it could not decide within timeout.
func DownVerdict(history []DownOp, timeout time.Duration) *bool {
	ops := make([]porcupine.Operation, len(history))
	for i := range history {
		o := &history[i]
		ops[i] = porcupine.Operation{Input: o, Output: nil, Call: o.Call, Return: o.Return}
	}
	var v bool
	switch porcupine.CheckOperationsTimeout(DownModel, ops, timeout) {
	case porcupine.Ok:
		v = true
	case porcupine.Illegal:
		v = false
	default:
		return nil
	}
	return &v
}

// DownAudit is what the direct audit of the downstream found.
type DownAudit struct {
	// Ghosts is the downstream events applied whose effect never
	// committed upstream.
	Ghosts int
	// Lost is the upstream events with a committed effect and no
	// downstream event of a committed effect applied.
	Lost int
	// Duplicates is the downstream applications of committed effects
	// beyond the first, summed over events.
	Duplicates int
}

// OK reports whether the audit found no violation.
func (a DownAudit) OK() bool { return a.Ghosts == 0 && a.Lost == 0 && a.Duplicates == 0 }

// DownRow is one row of the downstream ledger: the downstream consumer
// applied an event announcing an effect of upstream event Event, which
// committed or not (Ghost).
type DownRow struct {
	Event uint64
	Ghost bool
}

// AuditDownstream counts the downstream ledger's rows per event against
// the upstream's committed effects (committed[id], index 0 unused). A row
// of an event whose upstream effect never committed is a ghost, whatever
// the transaction it names.
func AuditDownstream(committed []int, rows []DownRow) DownAudit {
	var a DownAudit
	applied := make([]int, len(committed))
	for _, r := range rows {
		if r.Ghost || r.Event >= uint64(len(committed)) || committed[r.Event] == 0 {
			a.Ghosts++
			continue
		}
		applied[r.Event]++
	}
	for id := 1; id < len(committed); id++ {
		switch n := applied[id]; {
		case n > 1:
			a.Duplicates += n - 1
		case n == 0 && committed[id] > 0:
			a.Lost++
		}
	}
	return a
}
