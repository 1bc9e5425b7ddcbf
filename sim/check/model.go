package check

import (
	"fmt"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// The sequential specification, per event: the ledger holds the event's
// effect 0 or 1 times, and the broker has or has not accepted an ack.
//   - attempt -> applied: legal only if the effect is not there yet; it is
//     there after. A second application has no legal place: a duplicate.
//   - attempt -> skipped: changes nothing.
//   - attempt -> unknown: may have applied the effect or not.
//   - ack: the broker now considers the event done.
//   - read -> n: legal only if the ledger holds n applications, and if the
//     event is done, n is 1: an acked event without effect is lost.
//
// The model is nondeterministic (an unknown attempt may or may not have
// applied), so its state is the set of possible (applied, acked) pairs,
// kept as a 4-bit mask: porcupine's power-set construction, written out
// because the set is this small.

type input struct {
	kind  Kind
	event uint64
}

type output struct {
	result Result
	count  int
}

// state bit i stands for applied = i>>1, acked = i&1.
type state uint8

const initState state = 1 << 0 // applied 0, not acked

func step(st state, in input, out output) state {
	var next state
	for i := 0; i < 4; i++ {
		if st&(1<<i) == 0 {
			continue
		}
		applied, acked := i>>1, i&1
		switch in.kind {
		case Attempt:
			switch out.result {
			case Applied:
				if applied == 0 {
					next |= 1 << (2 | acked)
				}
			case Skipped:
				next |= 1 << i
			case Unknown:
				next |= 1 << i
				if applied == 0 {
					next |= 1 << (2 | acked)
				}
			}
		case Ack:
			next |= 1 << (applied<<1 | 1)
		case Read:
			if out.count == applied && (acked == 0 || applied == 1) {
				next |= 1 << i
			}
		}
	}
	return next
}

func describeState(s state) string {
	var parts []string
	for i := 0; i < 4; i++ {
		if s&(1<<i) != 0 {
			acked := "pending"
			if i&1 == 1 {
				acked = "acked"
			}
			parts = append(parts, fmt.Sprintf("applied=%d %s", i>>1, acked))
		}
	}
	return "{" + strings.Join(parts, " | ") + "}"
}

// Model is the exactly-once ledger model for porcupine, partitioned by event
// id. Its operations are built by Operations.
var Model = porcupine.Model{
	Partition: partitionByEvent,
	Init:      func() interface{} { return initState },
	Step: func(st, in, out interface{}) (bool, interface{}) {
		next := step(st.(state), *in.(*input), *out.(*output))
		return next != 0, next
	},
	Equal: func(a, b interface{}) bool { return a.(state) == b.(state) },
	Hash:  func(s interface{}) uint64 { return uint64(s.(state)) },
	DescribeOperation: func(in, out interface{}) string {
		i, o := in.(*input), out.(*output)
		return Op{Kind: i.kind, Event: i.event, Result: o.result, Count: o.count}.String()
	},
	DescribeState: func(s interface{}) string { return describeState(s.(state)) },
}

// partitionByEvent splits a history into one partition per event id, in
// order of first appearance, so the check is linear in the history length.
// The partitions share one backing array.
func partitionByEvent(history []porcupine.Operation) [][]porcupine.Operation {
	var maxID uint64
	for _, op := range history {
		maxID = max(maxID, op.Input.(*input).event)
	}
	// first pass: count per event and number the partitions by first
	// appearance; second pass: fill.
	count := make([]int32, maxID+1)
	slot := make([]int32, maxID+1)
	var order []uint64
	for _, op := range history {
		id := op.Input.(*input).event
		if count[id] == 0 {
			order = append(order, id)
		}
		count[id]++
	}
	backing := make([]porcupine.Operation, len(history))
	parts := make([][]porcupine.Operation, len(order))
	off := int32(0)
	for i, id := range order {
		parts[i] = backing[off : off : off+count[id]]
		slot[id] = int32(i)
		off += count[id]
	}
	for _, op := range history {
		i := slot[op.Input.(*input).event]
		parts[i] = append(parts[i], op)
	}
	return parts
}

// Operations turns a history into porcupine operations for Model. Inputs and
// outputs are pointers into two arrays, so that boxing them allocates
// nothing per operation.
func Operations(history []Op) []porcupine.Operation {
	ins := make([]input, len(history))
	outs := make([]output, len(history))
	ops := make([]porcupine.Operation, len(history))
	for i, o := range history {
		ins[i] = input{kind: o.Kind, event: o.Event}
		outs[i] = output{result: o.Result, count: o.Count}
		ops[i] = porcupine.Operation{
			ClientId: o.Client,
			Input:    &ins[i],
			Output:   &outs[i],
			Call:     o.Call,
			Return:   o.Return,
		}
	}
	return ops
}

// Timeout bounds one check of a run's history. Per-event partitions are
// tiny, so it is only reached if something is badly wrong.
const Timeout = 30 * time.Second

// Verdict checks history like Linearizable and returns the verdict as run
// results report it: true, false, or nil when porcupine could not decide
// within timeout (Unknown), which is never a pass.
func Verdict(history []Op, timeout time.Duration) *bool {
	var v bool
	switch Linearizable(history, timeout) {
	case porcupine.Ok:
		v = true
	case porcupine.Illegal:
		v = false
	default:
		return nil
	}
	return &v
}

// Verbose checks history like Linearizable and also returns what porcupine's
// visualization needs.
func Verbose(history []Op, timeout time.Duration) (porcupine.CheckResult, porcupine.LinearizationInfo) {
	return porcupine.CheckOperationsVerbose(Model, Operations(Reduce(history)), timeout)
}

// Reduce drops, for each event, every attempt with an unknown outcome but
// the one called first. The verdict does not change: in the model all such
// attempts mean the same ("may apply once, if not applied yet"), so if any
// of them applies at some point, the first-called one could apply there
// instead, and the others can be linearized as no-ops at the very end (they
// never return). Without it, an event redelivered many times into the same
// failure (say, a lock held by a stalled transaction) gives porcupine 2^n
// ways to place n such attempts, and the check runs out of time.
func Reduce(history []Op) []Op {
	return reduceInto(nil, nil, history)
}

// reduceInto is Reduce, appending to out and using first (grown as needed)
// for each event's index in out of its first unknown attempt, plus one.
func reduceInto(out []Op, first []int32, history []Op) []Op {
	var maxID uint64
	for _, o := range history {
		maxID = max(maxID, o.Event)
	}
	first = clearInt32s(first, int(maxID)+1)
	for _, o := range history {
		if o.Kind == Attempt && o.Result == Unknown {
			if i := first[o.Event]; i > 0 {
				if o.Call < out[i-1].Call {
					out[i-1] = o
				}
				continue
			}
			first[o.Event] = int32(len(out)) + 1
		}
		out = append(out, o)
	}
	return out
}

// clearInt32s returns s resized to n, all zero, reusing its array if it can.
func clearInt32s(s []int32, n int) []int32 {
	if cap(s) < n {
		return make([]int32, n)
	}
	s = s[:n]
	clear(s)
	return s
}
