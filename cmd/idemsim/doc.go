// Command idemsim shows how idempotent event consumers behave when a broker
// delivers at least once. It drives the deterministic simulator of package
// sim: several consumer instances, one deduplication strategy, injected
// redelivery, crashes, partitions and store faults, and two checkers
// (porcupine and a direct audit of the ledger) that judge whether every
// event's effect was applied exactly once.
//
// Usage:
//
//	idemsim <command> [flags]
//
// The commands are:
//
//	run      simulate one run of one strategy under some faults and print
//	         its counts, both checkers' verdicts, and, when it violated
//	         exactly-once, the command that replays it
//	         (--backend real: the same against real Redis and PostgreSQL)
//	compare  run every strategy under every fault scenario over seeds
//	         1..N, print the strategy x scenario table, and optionally write
//	         it to a directory as JSON, CSV, Markdown and a plot
//	         (`idemsim compare --out results` regenerates results/);
//	         --shard K/N runs only slice K of N of the seeds
//	merge    join the slices of a comparison that compare --shard wrote
//	         into what one compare with the same flags prints and writes
//	explain  find a violation of one strategy, shrink it to the smallest run
//	         that still fails, and tell it step by step, with porcupine's
//	         visualization and a timeline picture
//	plot     draw the comparison plots from saved results (--sweep first
//	         computes the instance and TTL sweeps)
//	help     list the commands, or describe every flag of one
//
// `idemsim <command> -h` describes every flag of a command. Fault lists
// take the scenario names, "all" for every fault, or "none", alone, for no
// injected fault beyond the broker's ordinary lost acks.
//
// run, compare and explain take --broker, the broker model: "queue" (the
// default) or "log", Kafka's consumer groups; compare takes a list
// (--broker queue,log) and prints a table per broker, with "-" where a
// strategy does not run, and with --out writes the log's files beside the
// queue's (compare-log.json, ..., violations-log.png). The queue's
// parameters: --ack-deadline D or none (SQS, JetStream; none: RabbitMQ),
// --prefetch N, --max-deliveries N (0: unlimited; after the last, a
// message is dead-lettered and its event, if never applied, is "dead") and
// --nack-retry D. The log's: --partitions N, --batch N, --commit
// batch|record, --session-timeout D and --max-poll-interval D. A
// parameter given to the other model is refused. Every "reproduce with:"
// line names --broker and each parameter that is not the default; explain
// searches and tells runs of the queue with them. run --backend real takes
// the default queue only, for now.
//
// compare runs fewer large runs at a time so that their memory stays within
// --max-memory (1 GiB by default); its result does not depend on it. A
// command that writes files (compare --out, run --history, explain --out)
// names them on stderr, in one line: "wrote a, b, c". plot's output is its
// report, on stdout, which names each file it wrote. explain --out writes
// nothing, and creates no directory, when there is nothing to explain.
//
// The exit status is 0 when the command completed (a violation of
// exactly-once is a result, not an error), 2 on bad usage (an unknown
// command, flag, strategy or fault, a malformed or impossible number), and 1
// on any other error, including a disagreement between the two checkers,
// which is a bug in idemsim.
//
// Output of the simulator is deterministic: the same flags give the same
// bytes on stdout. Only progress lines on a terminal read the wall clock,
// and they go to stderr. A run with --backend real is not reproducible byte
// for byte: real servers and the clock decide its interleaving.
//
// This command is package cli's Main, and nothing else. To get the same
// command with strategies of your own, write a main that registers them and
// calls cli.Main (see package cli), and build it as idemsim.
package main
