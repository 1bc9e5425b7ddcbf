package sim

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/internal/txscript"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

// The rules of the processed-ids table, played on the simulated database:
// the very scenarios memstore and PostgreSQL pass (internal/txscript), so
// that the three backends of ReadProcessed, DeleteProcessed,
// UpdateProcessed and InsertProcessed are held to one script. A step
// waits if the database parks its call, and must answer exactly when the
// step that releases it is done.
func TestTxScenariosAsPostgreSQL(t *testing.T) {
	for _, sc := range txscript.Scenarios() {
		t.Run(sc.Name, func(t *testing.T) { playRows(t, sc) })
	}
}

func playRows(t *testing.T, sc txscript.Scenario) {
	b := newDBBench(t)
	if len(sc.Rows) > 0 {
		setup := b.tx()
		for id, state := range sc.Rows {
			_, recs := b.doRow(0, setup, run.Insert, strategies.EventID(id), "", "")
			require.Equal(t, "true", answerOf1(t, recs), "setup of row %d", id)
			if state != "" {
				_, recs = b.doRow(0, setup, run.Update, strategies.EventID(id), "", state)
				require.Equal(t, "true", answerOf1(t, recs), "setup of row %d's state", id)
			}
		}
		b.doOffset(setup, txscript.End(0, "commit"))
	}
	playSteps(t, b, sc, func(tx int32, s txscript.Step) (uint32, []run.Record) {
		op, ok := map[string]run.Op{"insert": run.Insert, "read": run.Read, "delete": run.Delete, "update": run.Update}[s.Op]
		if !ok {
			return b.doOffset(tx, s) // commit, rollback
		}
		return b.doRow(0, tx, op, strategies.EventID(s.ID), s.Old, s.State)
	})
}
