package explain

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestSnapshotLine renders snapshots as the state lines the text prints.
func TestSnapshotLine(t *testing.T) {
	ledger := LedgerState{Label: "ledger", Rows: []LedgerRow{{Event: 1, Count: 2}, {Event: 2, Count: 0}}}
	for _, c := range []struct {
		name string
		s    Snapshot
		want string
	}{
		{"ledger only", Snapshot{Ledger: ledger}, "ledger: e1 ×2"},
		{"nothing applied, others counted", Snapshot{Ledger: LedgerState{Label: "charges", Rows: []LedgerRow{{Event: 3}}, Others: 2}}, "charges: none (+2 others)"},
		{"memories", Snapshot{Memories: "caches", Ledger: ledger, Instances: []InstanceState{
			{Inst: 0, Status: "up", Memory: []uint32{1, 2}}, {Inst: 1, Status: "down"}, {Inst: 2, Status: "up", Memory: []uint32{}}}},
			"caches: i0 {1,2}, i1 down, i2 {} | ledger: e1 ×2"},
		{"no memories told", Snapshot{Ledger: ledger, Instances: []InstanceState{{Inst: 0, Status: "up"}}}, "ledger: e1 ×2"},
		{"marks", Snapshot{Ledger: ledger, Marks: &MarkState{Marks: []Mark{{Event: 1, Live: true, Expires: "12.000 ms"}, {Event: 2}}, Others: 1}},
			"redis keys: e1 (expires at 12.000 ms) (+1 other) | ledger: e1 ×2"},
		{"no marks", Snapshot{Ledger: ledger, Marks: &MarkState{Marks: []Mark{{Event: 1}}}}, "redis keys: none | ledger: e1 ×2"},
		{"keys", Snapshot{Ledger: ledger, KV: &KVState{Label: "redis", Keys: []KVEntry{
			{Name: "lease:1", Value: "DONE"}, {Name: "seen", Set: true, Members: []string{"a", "b"}, Until: "3.000 ms"}}}},
			"redis: lease:1=DONE, seen={a,b} (until 3.000 ms) | ledger: e1 ×2"},
		{"ids", Snapshot{Ledger: ledger, IDs: &IDState{IDs: []EventYes{{Event: 1, Yes: true}, {Event: 2}}, Others: 3}},
			"processed ids: {1} (+3 others) | ledger: e1 ×2"},
	} {
		t.Run(c.name, func(t *testing.T) { assert.Equal(t, c.want, c.s.Line()) })
	}
}
