package run

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

// Config says which run: the zero values of Instances and Events mean the
// defaults (3 and 200).
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
	// NoTraceHash leaves Result.TraceHash empty: a sweep that reads only
	// the verdicts spares the digest's cost, a few percent of a run.
	NoTraceHash bool
}

// ErrBadConfig is matched (errors.Is) by every error of Config.Validate and
// of the sweeps' checks of their configs. Those errors read as the problem
// alone, such as "instances must be 1 to 64, not 0", without this
// sentinel's text, so a command line can show them as they are; BadConfigf
// makes one.
var ErrBadConfig = errors.New("run: bad config")

// BadConfigf returns an error that matches ErrBadConfig and reads as the
// formatted message alone: the way to report bad input that a command line
// shows its user.
func BadConfigf(format string, args ...any) error {
	return &configError{msg: fmt.Sprintf(format, args...)}
}

// configError is an error of BadConfigf.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

// Is reports whether target is ErrBadConfig.
func (e *configError) Is(target error) bool { return target == ErrBadConfig }

// WithDefaults returns c with its defaults filled in.
func (c Config) WithDefaults() Config {
	if c.Instances == 0 {
		c.Instances = 3
	}
	if c.Events == 0 {
		c.Events = 200
	}
	return c
}

// Validate reports what is wrong with c, if anything, in words that list
// what is accepted; the error matches ErrBadConfig.
func (c Config) Validate() error {
	c = c.WithDefaults()
	if _, ok := strategies.Lookup(c.Strategy); !ok {
		return BadConfigf("unknown strategy %q (accepted: %s)", c.Strategy, strings.Join(strategies.Names(), ", "))
	}
	if c.Faults&^faults.AllFaults != 0 {
		return BadConfigf("unknown faults in set %#x (accepted: subsets of %#x)", uint64(c.Faults), uint64(faults.AllFaults))
	}
	if c.Instances < 1 || c.Instances > MaxInstances {
		return BadConfigf("instances must be 1 to %d, not %d", MaxInstances, c.Instances)
	}
	if c.MarkTTL < 0 {
		return BadConfigf("mark TTL must not be negative, not %v (0 means the default: 24h, or drawn per seed under ttl)", c.MarkTTL)
	}
	if c.Events < 1 || c.Events > MaxEvents {
		return BadConfigf("events must be 1 to %d, not %d", MaxEvents, c.Events)
	}
	return nil
}

// Reproduce is the command line that replays this run.
func (c Config) Reproduce() string {
	c = c.WithDefaults()
	cmd := fmt.Sprintf("idemsim run --strategy %s --faults %s --seed %d --instances %d --events %d",
		c.Strategy, c.Faults, c.Seed, c.Instances, c.Events)
	if c.MarkTTL > 0 {
		cmd += fmt.Sprintf(" --mark-ttl %v", c.MarkTTL)
	}
	return cmd
}
