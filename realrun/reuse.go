package realrun

import (
	"context"

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
