package run

import "github.com/idemsim/idemsim/faults"

// The random streams a run derives from its seed, one per component, after
// the faults package's own (see faults.StreamOf). Both backends draw from
// them, so a real run publishes the simulator's workload and makes the same
// fault decisions. They are part of the determinism contract: changing one
// changes every trace.
const (
	StreamProducer = 100 + iota // the workload: gaps, accounts, amounts
	StreamBroker                // which free instance gets a delivery
	StreamNetwork               // latencies
	StreamAckLoss               // which acks are lost
)

// StreamFaultRuntime is the stream of fault f's decisions during a run
// (which step crashes, stalls, ...), apart from the draw of its intensities.
func StreamFaultRuntime(f faults.Fault) uint64 { return 200 + uint64(f) }
