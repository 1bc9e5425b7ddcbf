package faults

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Fault is one kind of injected fault.
type Fault uint8

// The faults, in the order tables show them.
const (
	Redeliver Fault = iota
	Crash
	Partition
	Slow
	StoreLoss
	TTL
	numFaults
)

var faultNames = [numFaults]string{"redeliver", "crash", "partition", "slow", "store-loss", "ttl"}

// String is the fault's scenario name.
func (f Fault) String() string {
	if f < numFaults {
		return faultNames[f]
	}
	return fmt.Sprintf("Fault(%d)", uint8(f))
}

// All lists every fault, in table order.
func All() []Fault {
	out := make([]Fault, numFaults)
	for i := range out {
		out[i] = Fault(i)
	}
	return out
}

// Set is a set of faults: one scenario.
type Set uint8

// AllFaults is the scenario "all": every fault at once.
const AllFaults Set = 1<<numFaults - 1

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
	names := make([]string, 0, numFaults)
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
	return append(faultNames[:], "all")
}

// Scenarios lists the named scenarios as sets, in the order of
// ScenarioNames.
func Scenarios() []Set {
	out := make([]Set, 0, numFaults+1)
	for _, f := range All() {
		out = append(out, Of(f))
	}
	return append(out, AllFaults)
}

// ErrUnknownFault is returned by Parse for a name it does not know.
var ErrUnknownFault = errors.New("faults: unknown fault")

// acceptedNames is what Parse accepts, for error messages.
func acceptedNames() string {
	return strings.Join(append(ScenarioNames(), "none"), ", ")
}

// Parse reads a comma-separated list of fault names ("crash,partition"),
// where "all" stands for every fault and "none", alone, for no fault on top
// of the broker's ordinary at-least-once behaviour. Spaces around names are
// ignored; an empty list or an unknown name is an error that lists what is
// accepted.
func Parse(list string) (Set, error) {
	if strings.TrimSpace(list) == "none" {
		return 0, nil
	}
	var s Set
	parts := strings.Split(list, ",")
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			return 0, fmt.Errorf("%w: empty name in %q (accepted: %s)", ErrUnknownFault, list, acceptedNames())
		}
		if p == "all" {
			s |= AllFaults
			continue
		}
		found := false
		for i, n := range faultNames {
			if n == p {
				s |= 1 << Fault(i)
				found = true
				break
			}
		}
		if !found {
			return 0, fmt.Errorf("%w %q (accepted: %s)", ErrUnknownFault, p, acceptedNames())
		}
	}
	return s, nil
}
