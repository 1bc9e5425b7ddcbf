package realrun

import (
	"context"
	"strconv"

	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

// readApplications counts the applications the ledger holds per event
// number (run.Workload.Number), with a deadline: per event id, unless the
// id-reuse fault gave two events of wl one id; then per id and payload, so
// that the checkers judge each of the two on its own, as the simulator's.
func (s *servers) readApplications(ctx context.Context, wl *run.Workload) (map[strategies.EventID]int, error) {
	if len(wl.Reused) == 0 {
		return s.readLedger(ctx)
	}
	rctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	byPayload, err := s.ledger.ApplicationsByPayload(rctx)
	if err != nil {
		return nil, s.tableErr(ctx, "reading the ledger at the end of the run", err)
	}
	apps := make(map[strategies.EventID]int, len(byPayload))
	for e, n := range byPayload {
		apps[wl.Number(e)] += n
	}
	return apps, nil
}

// publishRecord is the Publish record of message m, a copy of event number
// ev. One of an event that the id-reuse fault gave an earlier event's id
// says that id in Value, as the simulator's does: the trace then shows
// the event under the id its consumers saw.
func (r *session) publishRecord(m int, ev strategies.EventID) run.Record {
	rec := msgRecord(run.Publish, -1, m, ev)
	if len(r.wl.Reused) == 0 {
		return rec
	}
	if id := r.wl.Events[ev].ID; id != ev {
		rec.Value = strconv.FormatUint(uint64(id), 10)
	}
	return rec
}

// number is the number of the event e (run.Workload.Number): what the
// records of a call that carries the handled event (an Apply, a charge)
// name, as the simulator's do, since under id-reuse two events share an
// id.
func (r *session) number(e strategies.Event) strategies.EventID {
	return r.wl.Number(e)
}
