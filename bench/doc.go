// Package bench holds idemsim's benchmarks, run with
// `go test -bench . ./bench/...` (or scripts/bench, which writes
// results/bench.txt): the simulator's own speed and porcupine's cost as the
// history grows (sim_test.go); every strategy on the simulator and on real
// Redis and PostgreSQL at 1, 4 and 16 consumers (real_test.go), beside the
// raw server operations it is built on, measured in the same run so the
// overhead is a ratio (raw_test.go); the raw broker loops with the plain
// NATS, RabbitMQ and Kafka clients at the same concurrencies, alone and
// with the none strategy's PostgreSQL transaction written against pgx
// (nats_test.go, rawbroker_test.go), beside which the strategies through
// real brokers are read; and the batched
// mode against the pipelined limit (batch_test.go). Real servers come from
// internal/testserver. Package bench/plots draws the results.
package bench
