// Package sweep runs many simulated runs and adds up what they find: the
// outcome table (Compare), its slices for a batch system and their merge
// (CompareShard, Merge), the two series the plots draw (Instances, TTL),
// and, through Run, explain's search for a violating seed.
//
// # The engine
//
// Run is the one worker pool of idemsim. It runs jobs 0..n-1, one
// simulated run each, on a bounded number of goroutines, and hands their
// results on in job order, on the caller's goroutine. Its outcome is that
// of a plain loop over the jobs in order, one at a time, stopping at the
// first error or when the caller says so, whatever the number of workers
// and however they are scheduled; that is what makes a sweep's result
// deterministic, and explain's search find the same first seed as a
// sequential search. Options bound it:
//
//   - Workers: runs at once (0: one per CPU);
//   - MaxMemory: the memory budget of the runs in flight, at
//     EstimateRunMemory each (DefaultMaxMemory, 1 GiB, when 0): fewer
//     large runs go at once, and always at least one (InFlight);
//   - Progress: called after each finished run, for a progress line.
//
// # Comparisons, slices and merges
//
// Compare runs every strategy under every scenario over seeds 1..S. For a
// sweep too large for one machine, CompareShard runs slice K of N of the
// seeds (contiguous ranges: Shard.Seeds), and Merge adds the N slices'
// Parts up into the Comparison that Compare would have given, checking
// that they are the slices of one comparison, each there once. The cells
// of a comparison are in a fixed order (strategy by strategy, scenario by
// scenario) and its counts are sums, so the merge is exact.
//
// A comparison is of one broker model (CompareConfig.BrokerModel); a
// strategy that does not run on it has no cells, and a table shows "-" in
// its row (RunsOn). A comparison of several models is one per model, over
// the same rows, columns and seeds: ByBroker holds them, and its slices
// are one Part per model, each with the list in Part.Brokers
// (PartsByBroker), which MergeBrokers joins into one Comparison per model.
//
// A run that fails ends the sweep with its error, prefixed with the
// command that replays it; a strategy whose New fails ends it with the
// strategy's own error (strategies.NewError), which is no seed's.
//
// Nothing here reads the wall clock or depends on goroutine scheduling,
// except the Progress callback, which never changes a result.
package sweep
