// Package plots draws idemsim's figures, each as a PNG and an SVG of 8 by
// 5 inches (11 by 6 for several panels side by side), with a title, axes
// labelled with their units, and a legend:
//
//   - Violations: the outcome of `idemsim compare` (a sweep.Comparison),
//     the share of violating seeds per strategy and fault scenario, each
//     bar labelled with the kinds of violation seen;
//   - InstancesSweep: duplicates per run as consumer instances grow from
//     1 to 8, the local cache against the others, from sweep.Instances;
//   - TTLSweep: duplicates per run of the Redis strategies as the mark TTL
//     shrinks below the span in which late copies arrive, from sweep.TTL;
//   - Throughput and Latency: events/s and p99 latency per strategy,
//     simulated and real, from the benchmarks' output (ParseBench).
//
// Beside the figures, RatiosTable (WriteRatios: bench-ratios.md) is a
// Markdown table of the ratios the speed targets are stated in, such as
// db-unique-fast's events/s over redis's, each taken within one round of
// the benchmarks' output.
//
// Each figure function is a function from data to the files
// dir/<name>.png and dir/<name>.svg (Files); it runs nothing. When its
// data lack what it needs, it returns an error wrapping ErrNoData, and
// the caller reports the figure as skipped.
//
// It only draws: the data come from package sweep, which runs the
// simulator, or from the files results/ holds (compare.json,
// sweep-instances.json, sweep-ttl.json, bench.txt).
//
// `idemsim compare --out DIR` draws the violations figure beside the
// tables; `idemsim plot` draws every figure from the results saved in a
// directory, after running the sweeps when asked to (--sweep).
package plots
