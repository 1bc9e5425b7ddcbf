package sim

import "github.com/idemsim/idemsim/run"

// The run vocabulary lives in package run; these names keep the simulator's
// callers short.
type (
	// Config is run.Config.
	Config = run.Config
	// Result is run.Result.
	Result = run.Result
)

// Limits and errors of a run, from package run.
const (
	MaxInstances = run.MaxInstances
	MaxEvents    = run.MaxEvents
)

// ErrBadConfig is run.ErrBadConfig.
var ErrBadConfig = run.ErrBadConfig

// BadConfigf is run.BadConfigf.
func BadConfigf(format string, args ...any) error { return run.BadConfigf(format, args...) }
