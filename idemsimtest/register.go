package idemsimtest

import (
	"fmt"
	"reflect"
	"sync"

	"github.com/idemsim/idemsim/strategies"
)

// registerMu makes register's look-up and registration one step, for tests
// that run in parallel.
var registerMu sync.Mutex

// register registers s unless it is registered already, and returns the
// description every runner reads: the registered one. A strategy of s's
// name that was built by another New is an error: two strategies cannot
// share a name.
func register(s strategies.Strategy) (strategies.Strategy, error) {
	registerMu.Lock()
	defer registerMu.Unlock()
	if got, ok := strategies.Lookup(s.Name); ok {
		if s.New == nil || reflect.ValueOf(got.New).Pointer() != reflect.ValueOf(s.New).Pointer() {
			return got, fmt.Errorf("another strategy is registered as %q: give yours a name of its own", s.Name)
		}
		return got, nil
	}
	if err := strategies.Register(s); err != nil {
		return s, err
	}
	got, _ := strategies.Lookup(s.Name)
	return got, nil
}

// registered returns the registered strategy called name.
func registered(name string) (strategies.Strategy, bool) { return strategies.Lookup(name) }
