package sim

import (
	"cmp"
	"slices"
	"time"

	"github.com/idemsim/idemsim/broker"
	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

// ScriptedDelivery is one delivery of a Script: at At, the broker hands a
// copy of Event to instance Instance.
type ScriptedDelivery struct {
	At       time.Duration
	Instance int
	Event    strategies.EventID
}

// Script is a run with no producer and no faults: the deliveries are given,
// each to a chosen instance at a chosen time, and the broker never delivers
// anything else (a nacked copy is not redelivered). It exercises a strategy
// step by step on the simulated stores, as the conformance suite does on
// real ones.
type Script struct {
	Strategy  string
	Instances int
	MarkTTL   time.Duration // 0: 24 h
	// FailApply makes the first Apply of each of these events fail, and
	// the database abort its transaction; for a strategy that charges
	// the provider, every charge of the first attempt that charges it
	// (a 5xx).
	FailApply  []strategies.EventID
	Deliveries []ScriptedDelivery
}

// ScriptResult is what a Script did.
type ScriptResult struct {
	// Outcomes has, per delivery in the Script's order, what the handler
	// returned: Applied, Skipped, RetryLater, Dropped, or 0 when it
	// failed.
	Outcomes []strategies.Outcome
	// Applications counts committed applications per event id.
	Applications map[strategies.EventID]int
	Trace        []run.Record
}

// RunScript runs s on the simulated stores. It is deterministic. A
// strategy whose New fails ends it with that error, as it ends Run.
func RunScript(s Script) (*ScriptResult, error) {
	var maxID strategies.EventID
	for _, d := range s.Deliveries {
		if d.Event < 1 || d.Instance < 0 || d.Instance >= s.Instances || d.At < 0 {
			return nil, run.BadConfigf("scripted delivery %+v: want event >= 1, instance in 0..%d, time >= 0", d, s.Instances-1)
		}
		maxID = max(maxID, d.Event)
	}
	if len(s.Deliveries) == 0 {
		return nil, run.BadConfigf("a script needs deliveries")
	}
	cfg := Config{Strategy: s.Strategy, Instances: s.Instances, Events: int(maxID), MarkTTL: s.MarkTTL, Seed: 1, KeepTrace: true}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	w := newWorld(cfg.WithDefaults())
	finished := false
	defer func() {
		if !finished {
			w.stopAll()
		}
	}()
	w.broker.Reset(broker.Setup{Instances: w.cfg.Instances, Pick: w.rBroker, Scripted: true})
	w.p = faults.Params{} // not even the broker's ordinary lost acks
	for id := 1; id <= int(maxID); id++ {
		w.events[id] = strategies.Event{ID: strategies.EventID(id), Account: 1 + id%run.Accounts, Amount: 1}
	}
	if len(s.FailApply) > 0 {
		w.db.failApply = map[strategies.EventID]bool{}
		for _, id := range s.FailApply {
			w.db.failApply[id] = true
		}
		if w.charges {
			// A strategy that charges has its effect at the provider:
			// the first attempt that charges the event fails (5xx, at
			// every try).
			w.db.failApply = nil
			w.prov.failCharge = map[strategies.EventID]uint32{}
			for _, id := range s.FailApply {
				w.prov.failCharge[id] = 0
			}
		}
	}
	order := make([]int, len(s.Deliveries)) // deliveries by time, stable
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(s.Deliveries[a].At, s.Deliveries[b].At) })
	msgOf := make([]uint32, len(s.Deliveries))
	var last int64
	for _, i := range order {
		d := s.Deliveries[i]
		msgOf[i] = w.addMessage(d.Event)
		last = max(last, int64(d.At))
		w.q.pushLane(lanePublish, event{at: int64(d.At), kind: evScripted, a: msgOf[i], inst: int32(d.Instance)})
	}
	w.healAt = last + int64(healMargin)
	w.makeInstances()
	w.startInstances(-1)
	w.loop()
	if w.err != nil {
		return nil, w.err // a strategy's New failed; the deferred stopAll ends the others
	}

	res := &ScriptResult{Outcomes: make([]strategies.Outcome, len(s.Deliveries)), Applications: map[strategies.EventID]int{}}
	handled := map[uint32]strategies.Outcome{}
	trace := w.rec.Trace()
	for _, r := range trace {
		if r.Kind == run.Handled {
			if _, seen := handled[r.Msg]; !seen {
				handled[r.Msg] = r.Outcome.Strategy()
			}
		}
	}
	for i, m := range msgOf {
		res.Outcomes[i] = handled[m]
	}
	applied := w.db.ledger
	if w.charges {
		applied = w.prov.charges
	}
	for id := 1; id <= int(maxID); id++ {
		if n := applied[id]; n > 0 {
			res.Applications[strategies.EventID(id)] = n
		}
	}
	res.Trace = slices.Clone(trace)
	w.stopAll()
	finished = true
	w.release()
	return res, nil
}
