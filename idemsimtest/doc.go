// Package idemsimtest answers, in a go test, the question an engineer
// brings to idemsim: is my consumer exactly-once?
//
// Write the consumer's deduplication as a strategy: a strategies.Handler
// over the store interfaces (the Ledger where its effect lives, and a
// MarkStore or KV if it keeps anything in Redis), described by a
// strategies.Strategy. Then one call sweeps it, in the simulator, over
// seeds × scenarios of redelivery, crashes, partitions, stalls, Redis data
// loss and expiring keys:
//
//	func TestExactlyOnce(t *testing.T) {
//		idemsimtest.ExactlyOnce(t, dedup.Strategy, idemsimtest.Options{})
//	}
//
// It fails the test with the scenarios that broke exactly-once, the first
// failure shrunk to the smallest run that still fails and told step by step
// (as idemsim explain tells it), the "reproduce with: idemsim run ..." line
// that replays that run with an idemsim built with the strategy (see
// package cli), and the go test line that reruns just that seed:
//
//	go test -run '^TestExactlyOnce$' -idemsim.scenario=redeliver -idemsim.broker=queue -idemsim.seed=1
//
// By default it sweeps every scenario of the outcome table, seeds
// 1..ShortSeeds under go test -short and 1..DefaultSeeds otherwise, and
// expects exactly-once everywhere. Options.Expect states the kinds of
// violation a scenario is known to show, as a strategy's Expected does, so
// that a strategy known to duplicate under store-loss is still tested for
// everything else.
//
// It sweeps every broker model, the queue and the partitioned log (Kafka's
// consumer groups), unless Options.Brokers names fewer; a strategy that
// does not run on a model (strategies.Strategy.Brokers) is not run there.
// Each model's failures are reported in an error of their own that names
// the model. Options.BrokerParams sets the models' parameters, each model
// taking its own, and Options.ExpectOn states what a strategy shows on one
// model where it differs from Expect (a local cache holds on the log under
// redelivery, where each partition has one owner, and fails on the
// queue); the reproduce line names the model and its parameters. The flags
// -idemsim.seeds, -idemsim.seed, -idemsim.scenario and -idemsim.broker,
// which this package registers, narrow or widen a sweep from the command
// line.
//
// Options.Real sweeps on real servers instead (RealServers): the
// strategy's own code against real Redis, PostgreSQL and a real broker
// (NATS JetStream, RabbitMQ, Kafka, or the in-process queue), with real
// faults, as idemsim run --backend real plays them, fewer seeds and one
// run at a time. A server that fails fails the test with what it did,
// never as a verdict on the strategy.
//
// Conformance plays the conformance suite (package strategies/conformance)
// on the strategy, in process, and holds it to the promises it states
// (strategies.Promises). A case that does not fit the strategy is declined
// in Promises.Declines, by its name (conformance.CaseMarkExpires, ...),
// with the reason, which go test -v shows where it skips the case.
//
// A strategy whose New fails fails either test once, with New's error
// ("strategy S: New failed: ..."), and the sweep stops.
//
// Both register the strategy if no strategy of its name is registered, so
// a test needs no init function; a strategy registered by the package that
// defines it, for its own idemsim command, is found as it is.
//
// The sweep runs on package sweep's engine, so its result is deterministic
// whatever the number of CPUs: the same strategy, options and flags give
// the same verdicts, seeds and story on any machine.
package idemsimtest
