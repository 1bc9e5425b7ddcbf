package check

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// The sequential specification, per event: the ledger holds the event's
// effect 0 or 1 times, the broker has or has not accepted an ack, and a
// handler has or has not refused the event to a dead-letter queue.
//   - attempt -> applied: legal only if the effect is not there yet; it is
//     there after. A second application has no legal place: a duplicate.
//   - attempt -> skipped, retry-later or dropped: changes nothing.
//   - attempt -> refused: changes nothing but that the event is surfaced.
//   - attempt -> unknown: may have applied the effect or not.
//   - ack: the broker now considers the event done.
//   - read -> n: legal only if the ledger holds n applications, and if the
//     event is done, n is 1: an acked event without effect is lost, unless
//     a handler refused it (it is dead: surfaced, not lost).
//
// The model is nondeterministic (an unknown attempt may or may not have
// applied), so its state is the set of possible (refused, applied, acked)
// triples, kept as an 8-bit mask: porcupine's power-set construction,
// written out because the set is this small. A history with no refusal
// only ever reaches the four states of refused 0, as before refusals
// existed.

type input struct {
	kind  Kind
	event uint64
}

type output struct {
	result Result
	count  int
}

// state bit i stands for refused = i>>2, applied = i>>1&1, acked = i&1.
type state uint8

const initState state = 1 << 0 // applied 0, not acked, not refused

func step(st state, in input, out output) state {
	var next state
	for i := 0; i < 8; i++ {
		if st&(1<<i) == 0 {
			continue
		}
		refused, applied, acked := i&4, i>>1&1, i&1
		switch in.kind {
		case Attempt:
			switch out.result {
			case Applied:
				if applied == 0 {
					next |= 1 << (refused | 2 | acked)
				}
			case Skipped, RetryLater, Dropped:
				next |= 1 << i
			case Refused:
				next |= 1 << (i | 4)
			case Unknown:
				next |= 1 << i
				if applied == 0 {
					next |= 1 << (refused | 2 | acked)
				}
			}
		case Ack:
			next |= 1 << (refused | applied<<1 | 1)
		case Read:
			if out.count == applied && (acked == 0 || applied == 1 || refused != 0) {
				next |= 1 << i
			}
		}
	}
	return next
}

func describeState(s state) string {
	var parts []string
	for i := 0; i < 8; i++ {
		if s&(1<<i) != 0 {
			acked := "pending"
			if i&1 == 1 {
				acked = "acked"
			}
			if i&4 != 0 {
				acked += " refused"
			}
			parts = append(parts, fmt.Sprintf("applied=%d %s", i>>1&1, acked))
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
func partitionByEvent(history []porcupine.Operation) [][]porcupine.Operation {
	ids := make([]uint64, len(history))
	for i, op := range history {
		ids[i] = op.Input.(*input).event
	}
	var g grouper[porcupine.Operation]
	return g.group(history, ids)
}

// grouper splits a slice into one group per event id, in order of first
// appearance, keeping the order within each. The groups share one backing
// array; a grouper reuses its buffers from one call to the next.
type grouper[T any] struct {
	count   []int32 // per event id: its items; once its group exists, -1 - the group's index
	backing []T
	groups  [][]T
}

// group groups items, whose event ids are ids (ids[i] is items[i]'s).
func (g *grouper[T]) group(items []T, ids []uint64) [][]T {
	var maxID uint64
	for _, id := range ids {
		maxID = max(maxID, id)
	}
	g.count = clearInt32s(g.count, int(maxID)+1)
	for _, id := range ids {
		g.count[id]++
	}
	g.backing = slices.Grow(g.backing[:0], len(items))[:len(items)]
	g.groups = g.groups[:0]
	off := int32(0)
	for k, id := range ids {
		if n := g.count[id]; n > 0 {
			g.count[id] = -1 - int32(len(g.groups))
			g.groups = append(g.groups, g.backing[off:off:off+n])
			off += n
		}
		i := -1 - g.count[id]
		g.groups[i] = append(g.groups[i], items[k])
	}
	return g.groups
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
	var r reducer
	return r.reduce(history)
}

// reducer does Reduce, reusing its buffers from one call to the next.
type reducer struct {
	out   []Op
	first []int32 // per event id: 1 + the index in out of its first unknown attempt
}

func (r *reducer) reduce(history []Op) []Op {
	var maxID uint64
	for _, o := range history {
		maxID = max(maxID, o.Event)
	}
	r.first = clearInt32s(r.first, int(maxID)+1)
	r.out = r.out[:0]
	for _, o := range history {
		if o.Kind == Attempt && o.Result == Unknown {
			if i := r.first[o.Event]; i > 0 {
				if o.Call < r.out[i-1].Call {
					r.out[i-1] = o
				}
				continue
			}
			r.first[o.Event] = int32(len(r.out)) + 1
		}
		r.out = append(r.out, o)
	}
	return r.out
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
