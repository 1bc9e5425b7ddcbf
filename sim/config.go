package sim

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/strategies"
)

// Limits on a run's size: enough for any lesson or sweep, small enough that
// a typo cannot make a run that never ends.
const (
	MaxInstances = 64
	MaxEvents    = 100_000
)

// Config describes one simulated run. The zero values of Instances and
// Events mean the defaults (3 and 200).
type Config struct {
	Strategy  string
	Faults    faults.Set
	Seed      uint64
	Instances int
	Events    int
	// MarkTTL, when not zero, sets how long Redis marks live, overriding
	// both the default (24 h) and the ttl fault's draw: for sweeps of
	// duplicates against the TTL.
	MarkTTL time.Duration
	// KeepTrace keeps every trace record, for printing or explaining; the
	// trace hash is computed either way.
	KeepTrace bool
	// KeepHistory keeps the checked history in the Result.
	KeepHistory bool
}

// ErrBadConfig wraps every error of Config.Validate.
var ErrBadConfig = errors.New("sim: bad config")

// withDefaults fills in the defaults.
func (c Config) withDefaults() Config {
	if c.Instances == 0 {
		c.Instances = 3
	}
	if c.Events == 0 {
		c.Events = 200
	}
	return c
}

// Validate reports what is wrong with c, if anything, in words that list
// what is accepted.
func (c Config) Validate() error {
	c = c.withDefaults()
	if !strategies.Valid(c.Strategy) {
		return fmt.Errorf("%w: unknown strategy %q (accepted: %s)", ErrBadConfig, c.Strategy, strings.Join(strategies.Names, ", "))
	}
	if c.Faults&^faults.AllFaults != 0 {
		return fmt.Errorf("%w: unknown faults in set %#x", ErrBadConfig, uint8(c.Faults))
	}
	if c.Instances < 1 || c.Instances > MaxInstances {
		return fmt.Errorf("%w: instances must be 1 to %d, not %d", ErrBadConfig, MaxInstances, c.Instances)
	}
	if c.MarkTTL < 0 {
		return fmt.Errorf("%w: mark TTL must not be negative, not %v", ErrBadConfig, c.MarkTTL)
	}
	if c.Events < 1 || c.Events > MaxEvents {
		return fmt.Errorf("%w: events must be 1 to %d, not %d", ErrBadConfig, MaxEvents, c.Events)
	}
	return nil
}

// Reproduce is the command line that replays this run.
func (c Config) Reproduce() string {
	c = c.withDefaults()
	cmd := fmt.Sprintf("idemsim run --strategy %s --faults %s --seed %d --instances %d --events %d",
		c.Strategy, c.Faults, c.Seed, c.Instances, c.Events)
	if c.MarkTTL > 0 {
		cmd += fmt.Sprintf(" --mark-ttl %v", c.MarkTTL)
	}
	return cmd
}
