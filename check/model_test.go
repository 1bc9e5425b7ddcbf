package check

import (
	"testing"

	"github.com/anishathalye/porcupine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func attempt(client int, ev uint64, call, ret int64, r Result) Op {
	return Op{Kind: Attempt, Client: client, Event: ev, Call: call, Return: ret, Result: r}
}

func ack(client int, ev uint64, call, ret int64) Op {
	return Op{Kind: Ack, Client: client, Event: ev, Call: call, Return: ret}
}

func read(ev uint64, at int64, n int) Op {
	return Op{Kind: Read, Client: 9, Event: ev, Call: at, Return: at, Count: n}
}

func TestModel(t *testing.T) {
	tests := []struct {
		name    string
		history []Op
		want    porcupine.CheckResult
		audit   AuditResult // with applied/done derived below
	}{
		{"applied once and acked", []Op{
			attempt(0, 1, 0, 10, Applied), ack(0, 1, 11, 12), read(1, 100, 1),
		}, porcupine.Ok, AuditResult{}},
		{"second copy skipped", []Op{
			attempt(0, 1, 0, 10, Applied), attempt(1, 1, 5, 15, Skipped), ack(1, 1, 16, 17), ack(0, 1, 11, 12), read(1, 100, 1),
		}, porcupine.Ok, AuditResult{}},
		{"applied twice is a duplicate", []Op{
			attempt(0, 1, 0, 10, Applied), attempt(1, 1, 20, 30, Applied), read(1, 100, 2),
		}, porcupine.Illegal, AuditResult{Duplicates: 1}},
		{"two concurrent applications are still two", []Op{
			attempt(0, 1, 0, 10, Applied), attempt(1, 1, 1, 9, Applied), read(1, 100, 2),
		}, porcupine.Illegal, AuditResult{Duplicates: 1}},
		{"crashed attempt that applied, then a retry that applied", []Op{
			attempt(0, 1, 0, Never, Unknown), attempt(1, 1, 20, 30, Applied), read(1, 100, 2),
		}, porcupine.Illegal, AuditResult{Duplicates: 1}},
		{"crashed attempt that applied, retry skipped", []Op{
			attempt(0, 1, 0, Never, Unknown), attempt(1, 1, 20, 30, Skipped), ack(1, 1, 31, 32), read(1, 100, 1),
		}, porcupine.Ok, AuditResult{}},
		{"claimed, crashed before the effect, skipped and acked: lost", []Op{
			attempt(0, 1, 0, Never, Unknown), attempt(1, 1, 20, 30, Skipped), ack(1, 1, 31, 32), read(1, 100, 0),
		}, porcupine.Illegal, AuditResult{Lost: 1}},
		{"never acked and never applied: stuck, not a safety violation", []Op{
			attempt(0, 1, 0, Never, Unknown), read(1, 100, 0),
		}, porcupine.Ok, AuditResult{}},
		{"attempt reported applied but the ledger is empty", []Op{
			attempt(0, 1, 0, 10, Applied), ack(0, 1, 11, 12), read(1, 100, 0),
		}, porcupine.Illegal, AuditResult{Lost: 1}},
		{"every copy dropped and acked: lost", []Op{
			attempt(0, 1, 0, 10, Dropped), ack(0, 1, 11, 12), attempt(1, 1, 20, 30, Dropped), ack(1, 1, 31, 32), read(1, 100, 0),
		}, porcupine.Illegal, AuditResult{Lost: 1}},
		{"dropped and the ack lost: not done, so not lost", []Op{
			attempt(0, 1, 0, 10, Dropped), read(1, 100, 0),
		}, porcupine.Ok, AuditResult{}},
		{"one copy dropped, another applied: exactly once", []Op{
			attempt(0, 1, 0, 10, Dropped), ack(0, 1, 11, 12), attempt(1, 1, 20, 30, Applied), ack(1, 1, 31, 32), read(1, 100, 1),
		}, porcupine.Ok, AuditResult{}},
		{"dropped after an unknown attempt that may have applied", []Op{
			attempt(0, 1, 0, Never, Unknown), attempt(1, 1, 20, 30, Dropped), ack(1, 1, 31, 32), read(1, 100, 1),
		}, porcupine.Ok, AuditResult{}},
		{"events are independent", []Op{
			attempt(0, 1, 0, 10, Applied), attempt(1, 2, 0, 10, Applied), ack(0, 1, 11, 12), ack(1, 2, 11, 12),
			read(1, 100, 1), read(2, 100, 1),
		}, porcupine.Ok, AuditResult{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Linearizable(tt.history, 0))
			applied, done := ledgerOf(tt.history)
			assert.Equal(t, tt.audit, Audit(applied, done))
		})
	}
}

// ledgerOf derives what the audit reads (applications per event and whether
// the broker considers it done) from the final reads and acks of a history.
func ledgerOf(h []Op) ([]int, []bool) {
	var maxID uint64
	for _, o := range h {
		maxID = max(maxID, o.Event)
	}
	applied := make([]int, maxID+1)
	done := make([]bool, maxID+1)
	for _, o := range h {
		switch o.Kind {
		case Read:
			applied[o.Event] = o.Count
		case Ack:
			done[o.Event] = true
		}
	}
	return applied, done
}

func TestPartitionKeepsEveryOperation(t *testing.T) {
	h := []Op{attempt(0, 3, 0, 1, Applied), attempt(0, 1, 2, 3, Applied), attempt(1, 3, 2, 5, Skipped), read(1, 9, 1), read(3, 9, 1)}
	parts := partitionByEvent(Operations(h))
	require.Len(t, parts, 2)
	assert.Len(t, parts[0], 3, "event 3 first: it appears first")
	assert.Len(t, parts[1], 2)
	for _, op := range parts[0] {
		assert.Equal(t, uint64(3), op.Input.(*input).event)
	}
}

func TestDescribe(t *testing.T) {
	assert.Equal(t, "attempt(e4) -> applied", attempt(0, 4, 0, 1, Applied).String())
	assert.Equal(t, "read(e4) -> 2", read(4, 0, 2).String())
	assert.Equal(t, "{applied=0 pending | applied=1 pending}", describeState(step(initState, input{Attempt, 1}, output{result: Unknown})))
}
