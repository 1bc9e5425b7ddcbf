package strategies

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Strategy describes one deduplication strategy, once: its name, how to
// build it, which stores it needs, what it does and why it breaks, and the
// outcome-table row it is expected to show. The command line, the
// conformance suite, the plots, explain and the tests all read this
// description instead of switching on a strategy's name, so a new strategy
// is one file that calls Register.
type Strategy struct {
	// Name is how users and tables call it: lowercase letters, digits and
	// '-'.
	Name string
	// Order places it in tables: lower first. The built-ins take 10 to
	// 60; a strategy without an Order comes after them, in the order of
	// registration.
	Order int
	// Summary says in one line what it does.
	Summary string
	// Breaks says in one line why it breaks, or why it holds.
	Breaks string
	// Needs lists the stores New uses; New gets Deps that hold them.
	Needs Needs
	// New builds the strategy for one consumer instance. Each instance
	// builds its own, so memory of its own starts empty at every start.
	New func(Deps) (Handler, error)
	// Memory says that it keeps what it handled in the instance's memory,
	// where no other instance can see it and a crash empties it: explain
	// shows each instance's memory at every step.
	Memory bool
	// Expected is its outcome-table row: for each scenario name
	// ("redeliver", ..., "all"), the kinds of violation seen over seeds
	// 1..200 with 3 instances and 200 events: "ok", "dup", "lost",
	// "dup+lost", ... A scenario it does not name is not asserted.
	Expected map[string]string
	// Lesson, if set, is the scenario explain tries first.
	Lesson string
}

// Needs is a set of stores a strategy uses.
type Needs uint8

// The stores a strategy can need.
const (
	NeedsLedger Needs = 1 << iota // the database, where every effect lives
	NeedsMarks                    // Redis marks
)

// Has reports whether n holds every store of want.
func (n Needs) Has(want Needs) bool { return n&want == want }

var (
	registryMu sync.RWMutex
	registry   []Strategy // sorted by Order, then registration
	nameRE     = regexp.MustCompile(`^[a-z][a-z0-9-]{0,39}$`)
)

// Register adds s to the strategies every runner accepts. It refuses a
// name that is taken or malformed, or a description without New. The
// built-ins register themselves; a user registers theirs before running
// (in an init function or at the top of a test).
func Register(s Strategy) error {
	if !nameRE.MatchString(s.Name) {
		return fmt.Errorf("strategies: bad name %q: want a lowercase letter, then up to 39 lowercase letters, digits or '-'", s.Name)
	}
	if s.New == nil {
		return fmt.Errorf("strategies: %s has no New", s.Name)
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	for _, r := range registry {
		if r.Name == s.Name {
			return fmt.Errorf("strategies: %s is registered already", s.Name)
		}
	}
	if s.Order == 0 {
		s.Order = 1000
	}
	s.Needs |= NeedsLedger // every effect lives in the ledger
	registry = append(registry, s)
	slices.SortStableFunc(registry, func(a, b Strategy) int { return a.Order - b.Order })
	return nil
}

// MustRegister is Register for descriptions that cannot be wrong, such as
// the built-ins': it panics on an error.
func MustRegister(s Strategy) {
	if err := Register(s); err != nil {
		panic(err)
	}
}

// Lookup returns the strategy called name.
func Lookup(name string) (Strategy, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	for _, s := range registry {
		if s.Name == name {
			return s, true
		}
	}
	return Strategy{}, false
}

// All lists the registered strategies in table order.
func All() []Strategy {
	registryMu.RLock()
	defer registryMu.RUnlock()
	return slices.Clone(registry)
}

// Names lists the registered strategies' names in table order.
func Names() []string {
	all := All()
	names := make([]string, len(all))
	for i, s := range all {
		names[i] = s.Name
	}
	return names
}

// New builds the strategy called name for one consumer instance from d,
// which must hold the stores it needs. Misuse is an error, never a panic.
func New(name string, d Deps) (Handler, error) {
	s, ok := Lookup(name)
	if !ok {
		return nil, fmt.Errorf("strategies: unknown strategy %q (accepted: %s)", name, strings.Join(Names(), ", "))
	}
	if d.Ledger == nil {
		return nil, fmt.Errorf("strategies: %s needs a Ledger", name)
	}
	if s.Needs.Has(NeedsMarks) && d.Marks == nil {
		return nil, fmt.Errorf("strategies: %s needs a MarkStore", name)
	}
	return s.New(d)
}

// Valid reports whether a strategy called name is registered.
func Valid(name string) bool {
	_, ok := Lookup(name)
	return ok
}
