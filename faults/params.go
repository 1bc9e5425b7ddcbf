package faults

import (
	"math/rand/v2"
	"time"
)

// Params are the intensities of one run's faults, drawn per seed by Draw.
// Zero values mean the fault is off. Durations are simulated time.
type Params struct {
	// AckLoss is the chance that an ack never reaches the broker; the
	// broker's ordinary at-least-once behaviour, raised by redeliver.
	AckLoss float64
	// DupPublish is the chance that the producer publishes an event a second
	// time, at most DupDelayMax after the first copy, so that both copies
	// can be in flight on two instances at once (redeliver).
	DupPublish  float64
	DupDelayMax time.Duration
	// LatePublish is the chance of a late second copy, LateMin to LateMax
	// after the first: a producer retry or a replay that arrives after the
	// mark expired (ttl).
	LatePublish      float64
	LateMin, LateMax time.Duration

	// CrashPerStep is the chance, at every step of handling (receiving, each
	// store call, the ack), that the instance crashes: before the step, or
	// just after sending its request, half and half.
	CrashPerStep float64
	// RestartMin and RestartMax bound how long a crashed instance stays down.
	RestartMin, RestartMax time.Duration

	// Partitions is how many times each instance is cut off, for
	// PartitionMin to PartitionMax, from the broker, Redis, the database or
	// all of them.
	Partitions                 int
	PartitionMin, PartitionMax time.Duration
	// PartitionPerStep is the chance, at every store call, that the
	// instance is cut off from that store just after the request left: the
	// call takes effect, its reply is held, and the caller times out.
	PartitionPerStep float64

	// SlowPerStep is the chance, at every step of handling, that the handler
	// stalls for SlowFactor times the ack deadline before going on.
	SlowPerStep float64
	SlowFactor  float64

	// StoreLosses is how many times Redis loses data: restarting empty, or
	// failing over to a replica that lags by up to ReplicaLagMax.
	StoreLosses   int
	ReplicaLagMax time.Duration

	// MarkTTL, when not zero, overrides how long Redis marks live (ttl): a
	// mark expires before late copies arrive.
	MarkTTL time.Duration

	// Leaves is how many times an instance stops gracefully during the
	// run (rebalance): it finishes what it handles, acks or commits it,
	// and leaves; it comes back LeaveDownMin to LeaveDownMax later (a
	// rolling restart when short, a scale-in and out again when long).
	// ScaleOut: the last instance starts only at LateStart (a scale-out).
	Leaves                     int
	LeaveDownMin, LeaveDownMax time.Duration
	ScaleOut                   bool
	LateStart                  time.Duration

	// PausePerStep is the chance, at every step of handling, that the
	// whole instance pauses (zombie: a GC pause, a frozen VM): no
	// progress and no heartbeat, for PauseFactor times the broker's
	// liveness timeout (the log's session timeout, the queue's ack
	// deadline); then it resumes where it was.
	PausePerStep float64
	PauseFactor  float64

	// ProviderErrors is the chance that the payment provider answers a
	// charge with a 5xx, having done nothing: part of every run, as lost
	// acks are, for the strategies that charge a provider.
	ProviderErrors float64
	// KeyRetention, when not zero, shortens how long the payment
	// provider keeps an idempotency key (key-expiry): a key expires
	// before late copies arrive. key-expiry also publishes late copies
	// (LatePublish), unless ttl does already.
	KeyRetention time.Duration

	// IDReuse is the chance, for each event after the first, that the
	// producer gives it the id of an earlier event, one of the ReuseBack
	// events before it (id-reuse): a new event, with a payload of its
	// own, under an id already used. The truth is then by id and
	// payload: both events must take effect once each.
	IDReuse   float64
	ReuseBack int
}

// StreamBase is the random stream of the broker's ordinary lost acks; each
// fault's intensities come from stream StreamOf(f), after it. The
// simulator takes its own streams from 100 on. They are part of the
// determinism contract: changing one changes every trace.
const StreamBase = 10

// StreamOf is the random stream number of fault f.
func StreamOf(f Fault) uint64 { return StreamBase + 1 + uint64(f) }

// Description describes one fault, once: its scenario name, what it does,
// and how a seed draws its intensities into Params. The command line,
// the tables and Draw read it.
type Description struct {
	Name    string
	Summary string
	// draw sets the fault's fields of p from r, the fault's own stream.
	draw func(r *rand.Rand, p *Params)
}

// described lists the faults in table order, indexed by Fault. Adding a
// fault is one entry here, its constant, its fields of Params, and the
// mechanism in each backend.
var described = []Description{
	Redeliver: {Name: "redeliver", Summary: "more acks are lost, and the producer publishes some events twice, so two copies of one event can be in flight at once",
		draw: func(r *rand.Rand, p *Params) {
			p.AckLoss += uniform(r, 0.05, 0.20)
			p.DupPublish = uniform(r, 0.05, 0.25)
			p.DupDelayMax = 5 * time.Millisecond
		}},
	Crash: {Name: "crash", Summary: "an instance crashes at a random step of handling and restarts later with empty memory",
		draw: func(r *rand.Rand, p *Params) {
			p.CrashPerStep = uniform(r, 0.005, 0.03)
			p.RestartMin, p.RestartMax = 500*time.Millisecond, 5*time.Second
		}},
	Partition: {Name: "partition", Summary: "an instance is cut off from the store or the broker for a while; calls in flight time out with unknown outcome",
		draw: func(r *rand.Rand, p *Params) {
			p.Partitions = 1 + r.IntN(3)
			p.PartitionMin, p.PartitionMax = 200*time.Millisecond, 4*time.Second
			p.PartitionPerStep = uniform(r, 0.002, 0.01)
		}},
	Slow: {Name: "slow", Summary: "a handler stalls past the ack deadline; the broker redelivers to another instance while the first still runs",
		draw: func(r *rand.Rand, p *Params) {
			p.SlowPerStep = uniform(r, 0.005, 0.03)
			p.SlowFactor = uniform(r, 1.2, 3)
		}},
	StoreLoss: {Name: "store-loss", Summary: "Redis restarts empty, or fails over to a replica that lacks the latest writes",
		draw: func(r *rand.Rand, p *Params) {
			p.StoreLosses = 1 + r.IntN(3)
			p.ReplicaLagMax = time.Duration(uniform(r, 0.05, 2) * float64(time.Second))
		}},
	TTL: {Name: "ttl", Summary: "dedup marks expire before a late redelivery arrives",
		draw: func(r *rand.Rand, p *Params) {
			p.MarkTTL = time.Duration(uniform(r, 0.5, 3) * float64(time.Second))
			p.LatePublish = uniform(r, 0.05, 0.20)
			p.LateMin, p.LateMax = 4*time.Second, 20*time.Second
		}},
	Rebalance: {Name: "rebalance", Summary: "instances leave and join gracefully during the run (a scale-out, a scale-in, a rolling restart): on the log each change rebalances the partitions",
		draw: func(r *rand.Rand, p *Params) {
			p.Leaves = 1 + r.IntN(3)
			p.LeaveDownMin, p.LeaveDownMax = 300*time.Millisecond, 6*time.Second
			p.ScaleOut = r.IntN(2) == 0
			p.LateStart = time.Duration(uniform(r, 0.5, 4) * float64(time.Second))
		}},
	Zombie: {Name: "zombie", Summary: "an instance pauses whole (no progress, no heartbeat) past its session timeout, then resumes and finishes what it held: on the log its commit is fenced, its effects are not",
		draw: func(r *rand.Rand, p *Params) {
			p.PausePerStep = uniform(r, 0.002, 0.01)
			p.PauseFactor = uniform(r, 1.2, 3)
		}},
	KeyExpiry: {Name: "key-expiry", Summary: "the payment provider forgets idempotency keys before a late redelivery arrives",
		draw: func(r *rand.Rand, p *Params) {
			p.KeyRetention = time.Duration(uniform(r, 0.5, 3) * float64(time.Second))
			late := uniform(r, 0.05, 0.20)
			// Under ttl too (all), ttl's late copies serve both: the
			// workload of the other strategies stays as it was.
			if p.LatePublish == 0 {
				p.LatePublish = late
				p.LateMin, p.LateMax = 4*time.Second, 20*time.Second
			}
		}},
	IDReuse: {Name: "id-reuse", Summary: "the producer gives a new, different event the id of an earlier one: a deduplicator that keys on the id alone skips it, and loses it",
		draw: func(r *rand.Rand, p *Params) {
			p.IDReuse = uniform(r, 0.01, 0.05)
			p.ReuseBack = 5 + r.IntN(36)
		}},
}

// Draw draws the intensities of the faults in s for one seed. Each fault
// draws from its own stream, so the intensities of one fault do not depend
// on which others are in s.
func Draw(s Set, seed uint64) Params {
	var p Params
	base := rand.New(rand.NewPCG(seed, StreamBase))
	p.AckLoss = uniform(base, 0.01, 0.05)
	p.ProviderErrors = uniform(base, 0.005, 0.02)
	for _, f := range s.Faults() {
		described[f].draw(rand.New(rand.NewPCG(seed, StreamOf(f))), &p)
	}
	return p
}

// uniform draws from [lo, hi). The explicit float64 conversion rounds the
// product before the sum, so no platform fuses them into one FMA instruction
// and the result is the same bits everywhere (the Go spec allows fusion
// otherwise).
func uniform(r *rand.Rand, lo, hi float64) float64 { return lo + float64((hi-lo)*r.Float64()) }
