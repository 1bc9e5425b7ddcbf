package faults

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Fault is one kind of injected fault. Each is described once, in
// described (params.go): its name, what it does, and how a seed draws its
// intensity; everything else reads that description.
type Fault uint8

// The faults, in the order tables show them.
const (
	Redeliver Fault = iota
	Crash
	Partition
	Slow
	StoreLoss
	TTL
	Rebalance
	Zombie
	KeyExpiry
	IDReuse
)

// String is the fault's scenario name.
func (f Fault) String() string {
	if int(f) < len(described) {
		return described[f].Name
	}
	return fmt.Sprintf("Fault(%d)", uint8(f))
}

// Summary says in one line what the fault does.
func (f Fault) Summary() string {
	if int(f) < len(described) {
		return described[f].Summary
	}
	return ""
}

// All lists every fault, in table order.
func All() []Fault {
	out := make([]Fault, len(described))
	for i := range out {
		out[i] = Fault(i)
	}
	return out
}

// Set is a set of faults: one scenario. It holds up to 32 faults.
type Set uint32

// AllFaults is the scenario "all": every fault of the infrastructure at
// once. id-reuse is not in it: it is a producer's bug that changes which
// events exist (two events under one id), not a fault of the servers a
// strategy runs on, and in "all" it would hide what the others show. Name
// it beside "all" ("all,id-reuse") for both.
var AllFaults = Known &^ Of(IDReuse)

// Known is the set of every fault there is: a Set outside it is no
// scenario.
var Known = Set(1)<<len(described) - 1

// Of returns the set holding fs.
func Of(fs ...Fault) Set {
	var s Set
	for _, f := range fs {
		s |= 1 << f
	}
	return s
}

// Has reports whether f is in s.
func (s Set) Has(f Fault) bool { return s&(1<<f) != 0 }

// TimesCallsOut reports whether a fault of s makes store calls time out:
// a partition holds them, a stall or a pause (zombie) holds row locks that
// others' calls wait on. Under any other scenario a call that times out on
// real servers is the servers' or the machine's slowness, not the fault's.
func (s Set) TimesCallsOut() bool { return s.Has(Partition) || s.Has(Slow) || s.Has(Zombie) }

// Faults lists the faults of s in table order.
func (s Set) Faults() []Fault {
	var out []Fault
	for _, f := range All() {
		if s.Has(f) {
			out = append(out, f)
		}
	}
	return out
}

// Names lists the names of the faults of s, sorted, as JSON output shows
// them.
func (s Set) Names() []string {
	names := make([]string, 0, len(described))
	for _, f := range s.Faults() {
		names = append(names, f.String())
	}
	sort.Strings(names)
	return names
}

// String is the scenario name: "all" for every fault, else the sorted names
// joined by commas.
func (s Set) String() string {
	if s == AllFaults {
		return "all"
	}
	if s == 0 {
		return "none"
	}
	return strings.Join(s.Names(), ",")
}

// ScenarioNames lists the named scenarios in table order: one per fault, then
// "all".
func ScenarioNames() []string {
	var names []string
	for _, d := range described {
		names = append(names, d.Name)
	}
	return append(names, "all")
}

// Scenarios lists the named scenarios as sets, in the order of
// ScenarioNames.
func Scenarios() []Set {
	out := make([]Set, 0, len(described)+1)
	for _, f := range All() {
		out = append(out, Of(f))
	}
	return append(out, AllFaults)
}

// None is the name of the empty scenario: no injected fault, only the
// broker's ordinary at-least-once behaviour, which loses 1 to 5% of acks in
// every run. Parse accepts it alone, never in a list with other faults.
const None = "none"

// NoneMeaning says what None means, for help texts.
const NoneMeaning = "no injected fault beyond the broker's ordinary 1-5% lost acks (and the payment provider's 0.5-2% 5xx answers, for a strategy that charges)"

// AcceptedNames lists every name Parse accepts: the scenario names in table
// order ("all" last among them), then None.
func AcceptedNames() []string { return append(ScenarioNames(), None) }

// ErrUnknownFault is matched (errors.Is) by every error of Parse. Those
// errors read as the problem alone, such as
// `unknown fault "flood" (accepted: ...)`, without this sentinel's text.
var ErrUnknownFault = errors.New("faults: unknown fault")

// parseError is an error of Parse: its text is the problem, and it matches
// ErrUnknownFault.
type parseError struct{ msg string }

func (e *parseError) Error() string { return e.msg }

// Is reports whether target is ErrUnknownFault.
func (e *parseError) Is(target error) bool { return target == ErrUnknownFault }

// parseErrorf returns a parseError with a formatted message, followed by
// the list of accepted names.
func parseErrorf(format string, args ...any) error {
	return &parseError{msg: fmt.Sprintf(format, args...) + " (accepted: " + strings.Join(AcceptedNames(), ", ") + ")"}
}

// Parse reads a comma-separated list of fault names ("crash,partition"),
// where "all" stands for every fault and "none", alone, for no fault on top
// of the broker's ordinary at-least-once behaviour (see None). Spaces around
// names are ignored. An empty list, an empty, unknown or repeated name
// ("crash,crash": a slip that would otherwise pass unnoticed), or "none" in
// a list with other faults is an error that matches ErrUnknownFault and
// says what is accepted; a name that differs from a fault's only in case
// or in '_' for '-' is named in the message.
func Parse(list string) (Set, error) {
	var s Set
	none, other := false, false
	seen := make(map[string]bool)
	for _, p := range strings.Split(list, ",") {
		p = strings.TrimSpace(p)
		if p != "" && seen[p] {
			return 0, parseErrorf("%q is given twice in %q: name each fault once", p, list)
		}
		seen[p] = true
		switch {
		case p == "":
			return 0, parseErrorf("empty name in %q", list)
		case p == None:
			none = true
			continue
		case p == "all":
			s |= AllFaults
			other = true
			continue
		}
		f, ok := lookup(p)
		if !ok {
			if near := Suggest(p, AcceptedNames()); near != "" {
				return 0, parseErrorf("unknown fault %q: names are exact, did you mean %q?", p, near)
			}
			return 0, parseErrorf("unknown fault %q", p)
		}
		s |= Of(f)
		other = true
	}
	if none && other {
		return 0, parseErrorf("%q cannot be combined with other faults in %q: give %q alone for %s, or leave it out", None, list, None, NoneMeaning)
	}
	return s, nil
}

// lookup returns the fault called name.
func lookup(name string) (Fault, bool) {
	for i, d := range described {
		if d.Name == name {
			return Fault(i), true
		}
	}
	return 0, false
}

// Suggest returns the name in names that name differs from only in case,
// in '_' or ' ' for '-', or in surrounding spaces, or "" if there is none:
// for "did you mean" hints, here and in the command line.
func Suggest(name string, names []string) string {
	norm := func(s string) string {
		s = strings.ToLower(strings.TrimSpace(s))
		return strings.NewReplacer("_", "-", " ", "-").Replace(s)
	}
	want := norm(name)
	for _, n := range names {
		if n != name && norm(n) == want {
			return n
		}
	}
	return ""
}
