package sim

import (
	"testing"

	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
	"github.com/idemsim/idemsim/strategies/conformance"
)

// TestConformance plays the conformance suite in the simulator, on its
// simulated Redis and SQL stores, as the suite's own tests play it on the
// in-process stores and on real Redis and PostgreSQL.
//
// A script plays its deliveries on the queue, so the strategies that run
// on the log only (kafka-commit, offset-in-db) are played on the stores
// alone (strategies/conformance's own tests, idemsimtest).
func TestConformance(t *testing.T) {
	for _, st := range strategies.On(run.DefaultBroker) {
		t.Run(st.Name, func(t *testing.T) { conformance.Play(t, scriptRunner{}, st) })
	}
}

// scriptRunner plays conformance cases with RunScript, in simulated time.
type scriptRunner struct{}

// Name is "sim".
func (scriptRunner) Name() string { return "sim" }

// Run plays c; event k of the case is event id k+1.
func (scriptRunner) Run(_ testing.TB, strategy string, c conformance.Case) ([]strategies.Outcome, []int, error) {
	s := Script{Strategy: strategy, Instances: c.Instances, MarkTTL: c.MarkTTL}
	for _, k := range c.FailApply {
		s.FailApply = append(s.FailApply, strategies.EventID(k+1))
	}
	for _, d := range c.Deliveries {
		s.Deliveries = append(s.Deliveries, ScriptedDelivery{At: d.At, Instance: d.Instance, Event: strategies.EventID(d.Event + 1)})
	}
	res, err := RunScript(s)
	if err != nil {
		return nil, nil, err
	}
	apps := make([]int, c.Events())
	for k := range apps {
		apps[k] = res.Applications[strategies.EventID(k+1)]
	}
	return res.Outcomes, apps, nil
}
