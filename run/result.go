package run

import (
	"github.com/idemsim/idemsim/check"
	"github.com/idemsim/idemsim/faults"
)

// Result is the outcome of one run: its counts, both checkers' verdicts and
// the trace's digest. Its JSON form is the output of `idemsim run --json`.
type Result struct {
	Strategy  string   `json:"strategy"`
	Faults    []string `json:"faults"`
	Seed      uint64   `json:"seed"`
	Instances int      `json:"instances"`
	Events    int      `json:"events"`
	// BrokerNaming names the broker model and its parameters that are
	// not the default; its fields appear in the JSON in their place here.
	BrokerNaming
	// RealBroker is, for a run against real servers, the broker it ran on
	// (memory, nats, rabbitmq or kafka); Broker is then the simulator's
	// model that matches it. Left out of the JSON for a simulated run.
	RealBroker string `json:"real_broker,omitempty"`
	Published  int    `json:"published"`  // messages published, copies included
	Deliveries int    `json:"deliveries"` // deliveries that reached an instance
	Duplicates int    `json:"duplicates"` // applications beyond the first, summed over events
	Lost       int    `json:"lost"`       // events done at the broker, never applied
	Stuck      int    `json:"stuck"`      // events not settled when the liveness bound ran out
	// Dead is the events the broker dead-lettered (BrokerParams.
	// MaxDeliveries) that no attempt applied and no ack settled, and
	// those a handler refused to a dead-letter queue (strategies.Refused:
	// a conflict surfaced, such as a reused id with another payload)
	// that no attempt applied: neither lost nor ok, an outcome of their
	// own. Left out of the JSON when 0,
	// so that runs without a delivery limit print as they always have.
	Dead int `json:"dead,omitempty"`
	// The downstream's, for a strategy that sends events on
	// (strategies.NeedsPublisher; see package check): Ghosts, the
	// downstream events applied for an upstream effect that never
	// committed; DownstreamLost, the upstream events whose committed
	// effect's downstream event was never applied; DownstreamDuplicates,
	// downstream applications of committed effects beyond one per event.
	// Left out of the JSON when 0, so that the runs of other strategies
	// print as they always have.
	Ghosts               int `json:"ghosts,omitempty"`
	DownstreamLost       int `json:"downstream_lost,omitempty"`
	DownstreamDuplicates int `json:"downstream_duplicates,omitempty"`
	// Linearizable is porcupine's verdict: true, false, or nil when it
	// timed out (Unknown).
	Linearizable *bool `json:"linearizable"`
	// AuditOK is the direct audit's verdict: no duplicate and nothing lost.
	AuditOK   bool   `json:"audit_ok"`
	TraceHash string `json:"trace_hash"`
	// SimTimeMS is the simulated time the run took; for a run against real
	// servers (realrun), the wall-clock time it took.
	SimTimeMS float64 `json:"sim_time_ms"`
	// FaultsInjected counts the faults injected, per fault name, the
	// ordinary lost acks under "lost-ack".
	FaultsInjected map[string]int `json:"faults_injected"`
	// Decisions lists the fault decisions that struck, in the order the
	// run made them ("crash@3": the crash fault's injection point 3), the
	// ones Config.Drop dropped left out: the run's fault schedule, which
	// --drop shrinks. Left out of the JSON when empty.
	Decisions []faults.Decision `json:"decisions,omitempty"`
	Reproduce string            `json:"reproduce"`

	// Trace is every step of the run, when Config.KeepTrace is set.
	Trace []Record `json:"-"`
	// History is the checked history, when Config.KeepHistory is set.
	History []check.Op `json:"-"`
	// DownHistory is the downstream's checked history (its final reads
	// included), when Config.KeepHistory is set and the strategy sends
	// events on.
	DownHistory []check.DownOp `json:"-"`
}

// Violating reports whether the run broke exactly-once: a duplicate, a lost
// event, or an event that never settled, upstream or downstream (a ghost). A dead event is not a violation of
// exactly-once (the broker gave up on it, as it was told to, and said so):
// it is counted apart, in Dead, and neither checker counts it against the
// run.
func (r *Result) Violating() bool {
	return r.Duplicates > 0 || r.Lost > 0 || r.Stuck > 0 || r.Ghosts > 0 || r.DownstreamLost > 0 || r.DownstreamDuplicates > 0
}

// CheckersAgree reports whether porcupine and the audit reached the same
// verdict. An Unknown verdict agrees with nothing.
func (r *Result) CheckersAgree() bool {
	return r.Linearizable != nil && *r.Linearizable == r.AuditOK
}

// BrokerNaming names a broker model and its parameters that are not the
// default, as the JSON of a run or a comparison tells them: "broker" always,
// each parameter only when it is not the default (ack_deadline: a Go
// duration or "none"; max_deliveries 0 is unlimited).
type BrokerNaming struct {
	Broker        string `json:"broker"`
	AckDeadline   string `json:"ack_deadline,omitempty"`
	NackRetry     string `json:"nack_retry,omitempty"`
	Prefetch      int    `json:"prefetch,omitempty"`
	MaxDeliveries int    `json:"max_deliveries,omitempty"`
	// The log's.
	Partitions      int    `json:"partitions,omitempty"`
	Batch           int    `json:"batch,omitempty"`
	Commit          string `json:"commit,omitempty"`
	SessionTimeout  string `json:"session_timeout,omitempty"`
	MaxPollInterval string `json:"max_poll_interval,omitempty"`
}

// NameBroker returns the naming of model (""; the default) and p.
func NameBroker(model string, p BrokerParams) BrokerNaming {
	if model == "" {
		model = DefaultBroker
	}
	return BrokerNaming{Broker: model, AckDeadline: p.ackDeadlineText(), NackRetry: durationText(p.NackRetry), Prefetch: p.Prefetch, MaxDeliveries: p.MaxDeliveries,
		Partitions: p.Partitions, Batch: p.Batch, Commit: p.Commit.String(),
		SessionTimeout: durationText(p.SessionTimeout), MaxPollInterval: durationText(p.MaxPollInterval)}
}

// Params returns the model's name and parameters that n names, the
// inverse of NameBroker; an error for one it cannot read back (a JSON file
// edited by hand).
func (n BrokerNaming) Params() (string, BrokerParams, error) {
	var p BrokerParams
	var err error
	model := n.Broker
	if model == "" {
		model = DefaultBroker
	}
	if p.AckDeadline, err = parseDurationText(n.AckDeadline, true); err != nil {
		return model, p, BadConfigf("ack_deadline %q: want a positive Go duration or none", n.AckDeadline)
	}
	if p.NackRetry, err = parseDurationText(n.NackRetry, false); err != nil {
		return model, p, BadConfigf("nack_retry %q: want a positive Go duration", n.NackRetry)
	}
	p.Prefetch, p.MaxDeliveries = n.Prefetch, n.MaxDeliveries
	p.Partitions, p.Batch = n.Partitions, n.Batch
	if n.Commit != "" {
		if p.Commit, err = ParseCommitMode(n.Commit); err != nil {
			return model, p, err
		}
	}
	if p.SessionTimeout, err = parseDurationText(n.SessionTimeout, false); err != nil {
		return model, p, BadConfigf("session_timeout %q: want a positive Go duration", n.SessionTimeout)
	}
	if p.MaxPollInterval, err = parseDurationText(n.MaxPollInterval, false); err != nil {
		return model, p, BadConfigf("max_poll_interval %q: want a positive Go duration", n.MaxPollInterval)
	}
	return model, p, p.Validate()
}
