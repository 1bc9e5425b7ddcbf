package run

import "github.com/idemsim/idemsim/faults"

// The random streams a run derives from its seed, one per component, after
// the faults package's own (see faults.StreamOf). Both backends draw from
// them, so a real run publishes the simulator's workload and makes the same
// fault decisions. They are part of the determinism contract: changing one
// changes every trace.
const (
	StreamProducer   = 100 + iota // the workload: gaps, accounts, amounts
	StreamBroker                  // which free instance gets a delivery
	StreamNetwork                 // latencies
	StreamAckLoss                 // which acks are lost
	StreamProvider                // the payment provider: its 5xx answers and processing delays
	StreamDownstream              // the downstream topic: its broker's choices and its consumer's latencies
)

// StreamFaultRuntime is the stream of fault f's decisions during a run
// (which step crashes, stalls, ...), apart from the draw of its intensities.
func StreamFaultRuntime(f faults.Fault) uint64 { return 200 + uint64(f) }

// streamInstances sets the top bit of the instances' streams, above every
// other stream number, so that none of them is shared with a component.
const streamInstances = 1 << 63

// StreamInstance is the random stream of incarnation gen (1 at the start,
// one more at each restart) of consumer instance inst: the source that
// Deps.Rand gives its strategy. Each incarnation has its own, so a
// restart draws new lock tokens, as a restarted process would; no other
// stream moves when a strategy draws from it.
func StreamInstance(inst int, gen uint32) uint64 {
	return streamInstances | uint64(uint32(inst))<<32 | uint64(gen)
}
