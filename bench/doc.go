// Package bench holds idemsim's benchmarks, run with
// `go test -bench . ./bench/...`: the simulator's own speed, porcupine's
// cost as the history grows, and (later) every strategy on real servers
// beside the raw server operation it is built on.
package bench
