package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/idemsim/idemsim/check"
	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/realrun"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/sim"
	"github.com/idemsim/idemsim/strategies"
)

// runSynopsis is the usage line of `idemsim run`.
const runSynopsis = "idemsim run --strategy S --faults F[,F...] --seed N [--instances 3] [--events 200] [--trace] [--json] [--history FILE] [--mark-ttl D] [--drop F@N[,F@N...]] [--broker queue|log] [--ack-deadline D|none] [--nack-retry D] [--prefetch N] [--max-deliveries N] [--partitions N] [--batch N] [--commit batch|record] [--session-timeout D] [--max-poll-interval D] [--backend sim|real] [--redis-url URL] [--postgres-url URL] [--nats-url URL] [--amqp-url URL] [--kafka-brokers HOST:PORT[,...]|kfake] [--kafka-sasl-mechanism M] [--kafka-sasl-user U] [--kafka-sasl-password P] [--kafka-tls] [--provider-url URL] [--prefix P]"

const runAbout = `
Simulate one run: the producer publishes the events, the consumer instances
handle them with the strategy while the faults are injected, then the faults
heal and every event must settle. Porcupine and a direct audit of the ledger
then judge whether every event's effect was applied exactly once.

Prints a summary; when the run violated exactly-once, its last line is the
command that replays it. The same flags give the same run, byte for byte.

With --backend real, the same strategy code runs against real Redis and
PostgreSQL: an in-process broker on the wall clock, one goroutine per
instance, and real faults (closed sockets, cut TCP proxies, stalls, deleted
marks, short TTLs). It touches only what is its own: the tables
<prefix>_processed, _accounts, _ledger and _offsets, which it creates
with idemsim's mark and empties (a table of those names it did not create
is refused, untouched), and Redis keys under <prefix>:run:<run id>:, which
it deletes at the end. A strategy that charges (api-no-key, api-key,
api-key-db) charges a payment provider over HTTP: the run starts an
'idemsim provider' process of its own (this executable) on a free
loopback port, whose keys and charges live in the tables
<prefix>_provider_keys and _provider_charges (made with idemsim's mark),
each consumer reaching it through its own proxy, so that a crash closes
its connections and a partition cuts them; the run removes its keys and
charges and stops the process at the end. --provider-url names one to
use instead. A provider killed or hung mid-run ends the run within
seconds with no verdict. A second run on the same prefix is refused while the first
goes on; 'idemsim clean' removes what runs left behind. A server that
cannot be reached, rejects the connection, or dies or hangs during the run
ends it within seconds (exit status 1) with no verdict. A real run is not
reproducible byte for byte: the servers and the clock decide the
interleaving.

--broker means a model in the simulator (queue, log) and a broker in a
real run: memory, the in-process queue (the default; queue means it too),
or nats, NATS JetStream (--nats-url): the run creates its own stream
<prefix>_events and durable pull consumer <prefix>_consumers, marked as
idemsim's in their metadata (one of those names without the mark is
refused, untouched), acks with AckSync, and deletes them at the end. The
simulator's model for it is the queue with an ack deadline. Or rabbitmq,
a RabbitMQ quorum queue <prefix>_events (--amqp-url), marked as idemsim's
in arguments RabbitMQ checks (one of that name without the mark is
refused, untouched), with publisher confirms, manual acks, prefetch 1 (--prefetch) and
a 1 s heartbeat, deleted at the end; its model is the queue with no ack
deadline (--ack-deadline none). Or kafka, Kafka through franz-go
(--kafka-brokers; kfake runs on franz-go's in-process cluster): the run
creates its own topic <prefix>_events (six partitions, keyed by account,
marked as idemsim's by its config delete.retention.ms=86400007) and
consumer group <prefix>_consumers, commits after each batch (or record),
and deletes both at the end. The simulator's model for it is the log.
A cluster that asks for SASL takes --kafka-sasl-user and a password
(IDEMSIM_KAFKA_SASL_PASSWORD, never printed; --kafka-sasl-mechanism plain,
scram-sha-256 or scram-sha-512), and one that listens with TLS, --kafka-tls.
The run's session timeout is the log's 3 s
on the run's clock, 240 ms: on a cluster whose group.min.session.timeout.ms
is above it (6 s by default), the run stretches its whole clock until it
fits, faults and all, says so, and takes that much longer.

A real run on a queue broker takes the queue's parameters its broker has,
durations scaled to the real run's clock (the simulator's 5 s ack deadline
is its 400 ms): on nats, --ack-deadline is AckWait, --prefetch each pull's
batch (MaxRequestBatch), --max-deliveries MaxDeliver; on rabbitmq,
--ack-deadline none only, --prefetch is basic.qos, --max-deliveries N the
queue's x-delivery-limit N-1 with a dead-letter exchange <prefix>_dead_letters
and queue <prefix>_dead of the run's own; memory takes --ack-deadline and
--max-deliveries. --nack-retry applies to all three. What a broker
dead-letters counts as dead; a parameter it lacks is refused (exit status 2).
`

// runOrder is the order in which run's help lists its flags, each with
// the placeholder of its value.
var runOrder = []string{"strategy S", "faults F[,F...]", "seed N", "instances N", "events N", "trace", "json", "history FILE", "mark-ttl D", "drop F@N[,F@N...]", "broker B", "ack-deadline D|none", "nack-retry D", "prefetch N", "max-deliveries N", "partitions N", "batch N", "commit batch|record", "session-timeout D", "max-poll-interval D", "backend B", "redis-url URL", "postgres-url URL", "nats-url URL", "amqp-url URL", "kafka-brokers B", "kafka-sasl-mechanism M", "kafka-sasl-user U", "kafka-sasl-password P", "kafka-tls", "provider-url URL", "prefix P"}

// runOpts are the flags of `idemsim run`.
type runOpts struct {
	strategy  string
	faults    string
	seed      uint64
	instances int
	events    int
	trace     bool
	json      bool
	history   string
	markTTL   time.Duration
	drop      string
	broker    brokerFlags
	// --backend real
	backend string
	srv     serverFlags
	// providerURL is --provider-url: the payment provider a real run of
	// a strategy that charges uses instead of starting its own.
	providerURL string
	// realBroker is --broker as a real run reads it (memory, nats, rabbitmq
	// or kafka).
	realBroker string
}

// flagSet defines run's flags on a new FlagSet that writes into o.
func (o *runOpts) flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.StringVar(&o.strategy, "strategy", "",
		"deduplication strategy (required), one of:\n"+acceptedStrategies())
	fs.StringVar(&o.faults, "faults", "",
		"faults to inject together (required), a comma-separated list of:\n"+acceptedFaults()+"\n("+faultsHelp+")")
	fs.Var(&uint64Value{&o.seed}, "seed",
		fmt.Sprintf("root seed of the run (required), 0 to %d;\nthe same flags and seed give the same run", uint64(math.MaxUint64)))
	fs.Var(newIntValue(&o.instances, 3, 1, sim.MaxInstances), "instances",
		fmt.Sprintf("consumer instances, 1 to %d", sim.MaxInstances))
	fs.Var(newIntValue(&o.events, 200, 1, sim.MaxEvents), "events",
		fmt.Sprintf("events published, 1 to %d", sim.MaxEvents))
	fs.BoolVar(&o.trace, "trace", false, "print the full trace before the summary")
	fs.BoolVar(&o.json, "json", false,
		"print only the result, as one JSON object, instead of the summary")
	fs.StringVar(&o.history, "history", "",
		"write the checked history to FILE as a JSON array of operations\n"+
			"(client, input, output, call, return)")
	fs.Var(&durationValue{&o.markTTL}, "mark-ttl",
		"how long Redis marks live: "+durationFormat+"\n(default 24h, or drawn per seed under ttl)")
	fs.StringVar(&o.drop, "drop", "",
		"fault decisions not to inject, a comma-separated list of fault@point such as crash@3,slow@12:\n"+
			"the \"decisions\" of the run's --json; the run draws them all the same, so every other\n"+
			"decision keeps its number, and it differs from the run without them only from there on\n"+
			"(default: none; explain's reproduce lines use it)")
	o.broker.define(fs, false)
	fs.Lookup("broker").Usage += "\nwith --backend real: the broker, memory (the in-process queue, the default; queue\nmeans it too), nats (NATS JetStream, --nats-url), rabbitmq (a RabbitMQ quorum queue, --amqp-url)\nor kafka (Kafka, --kafka-brokers; the simulator's model: log, whose --partitions, --batch and\n--commit batch|record apply)"
	fs.StringVar(&o.backend, "backend", "sim",
		"sim (the deterministic simulator) or real (real Redis and PostgreSQL)")
	o.srv.define(fs, "with --backend real: ", "prefix of the tables and keys idemsim creates and empties")
	fs.StringVar(&o.providerURL, "provider-url", "",
		"with --backend real and a strategy that charges: the payment provider to charge, http://host:port,\nas 'idemsim provider' prints it (default $IDEMSIM_PROVIDER_URL, else the run starts an\nidemsim provider of its own, on a free loopback port, and stops it at the end)")
	return fs
}

// runCmd is `idemsim run`.
func (e *env) runCmd(args []string) error {
	var o runOpts
	fs := o.flagSet()
	help, err := parseFlags(fs, args)
	if help {
		return printCommandHelp(e.stdout, runSynopsis, runAbout, fs, runOrder)
	}
	if err != nil {
		return err
	}
	cfg, err := o.config(setFlags(fs))
	if err != nil {
		return err
	}

	// Open the history file first, so that an unwritable one fails before
	// the run rather than after it.
	var hist *os.File
	if o.history != "" {
		if hist, err = os.Create(o.history); err != nil {
			return fmt.Errorf("--history: %w", err)
		}
	}
	var res *sim.Result
	if o.backend == "real" {
		var rc realrun.Config
		if rc, err = o.srv.config(setFlags(fs)); err == nil {
			rc.Config = cfg
			rc.BrokerServer = o.realBroker
			rc.ProviderURL = o.providerURL
			if setFlags(fs)["provider-url"] && strings.TrimSpace(o.providerURL) == "" {
				err = usagef("--provider-url is empty: give one (e.g. http://127.0.0.1:8088), or leave the flag out for the run to start its own provider")
			} else {
				err = rc.Validate()
			}
		}
		if err == nil {
			if e.isTerminal(e.stderr) {
				rc.Progress = func(s string) { fmt.Fprintln(e.stderr, s) }
			}
			rc.Warn = func(s string) { fmt.Fprintln(e.stderr, "idemsim run: warning: "+s) }
			res, err = e.realRun(rc)
		}
	} else {
		res, err = e.simRun(cfg)
	}
	if err != nil {
		if hist != nil {
			hist.Close()
			os.Remove(o.history)
		}
		return err
	}
	if res.Reproduce == "" {
		res.Reproduce = cfg.Reproduce()
	}
	if o.backend == "real" && res.RealBroker == "" {
		res.RealBroker = o.realBroker // realrun.Run names it; a test's fake may not
	}
	if o.backend == "real" && o.realBroker == realrun.BrokerNATS && !o.json {
		res.Broker = "nats: NATS JetStream (the simulator's model: queue, with an ack deadline)"
	}
	if o.backend == "real" && o.realBroker == realrun.BrokerRabbitMQ && !o.json {
		res.Broker = "rabbitmq: a RabbitMQ quorum queue (the simulator's model: queue, --ack-deadline none)"
	}
	if o.backend == "real" && o.realBroker == realrun.BrokerKafka && !o.json {
		res.Broker = "kafka: Kafka through franz-go, a consumer group with manual commits (the simulator's model: log)"
	}

	if o.json {
		err = writeJSON(e.stdout, res)
	} else {
		if o.trace {
			err = run.WriteTrace(e.stdout, res.Trace)
		}
		if err == nil {
			err = writeSummary(e.stdout, res, o.backend == "real")
		}
	}
	if hist != nil {
		if herr := check.WriteHistoryJSON(hist, res.History); herr != nil {
			hist.Close()
			return fmt.Errorf("--history %s: %w", o.history, herr)
		}
		if herr := hist.Close(); herr != nil {
			return fmt.Errorf("--history %s: %w", o.history, herr)
		}
		fmt.Fprintf(e.stderr, "wrote %s\n", o.history)
	}
	if err != nil {
		return err
	}
	if !res.CheckersAgree() {
		return &checkerBugError{msg: disagreement(res)}
	}
	return nil
}

// config checks the flags and builds the run's Config; set names the flags
// given on the command line.
func (o *runOpts) config(set map[string]bool) (sim.Config, error) {
	var cfg sim.Config
	if !set["strategy"] {
		return cfg, usagef("missing --strategy (accepted: %s)", acceptedStrategies())
	}
	o.strategy = strings.TrimSpace(o.strategy)
	if !strategies.Valid(o.strategy) {
		return cfg, unknownName("strategy", o.strategy, strategies.Names())
	}
	if !set["faults"] {
		return cfg, usagef("missing --faults (accepted: a comma-separated list of %s)", acceptedFaults())
	}
	fset, err := faults.Parse(o.faults)
	if err != nil {
		return cfg, faultsError("faults", err)
	}
	if !set["seed"] {
		return cfg, usagef("missing --seed (accepted: a whole number from 0 to %d)", uint64(math.MaxUint64))
	}
	if set["history"] && o.history == "" {
		return cfg, usagef("--history needs a file name (default: write no history)")
	}
	if o.trace && o.json {
		return cfg, usagef("--trace and --json cannot be combined: --json prints only the JSON object")
	}
	switch o.backend {
	case "sim":
		for _, f := range []string{"redis-url", "postgres-url", "nats-url", "amqp-url", "kafka-brokers", "kafka-sasl-mechanism", "kafka-sasl-user", "kafka-sasl-password", "kafka-tls", "provider-url", "prefix"} {
			if set[f] {
				return cfg, usagef("--%s needs --backend real", f)
			}
		}
	case "real":
	default:
		return cfg, usagef("unknown backend %q (accepted: sim, real)", o.backend)
	}
	drop, err := faults.ParseDecisions(o.drop)
	if err != nil {
		return cfg, faultsError("drop", err)
	}
	if set["drop"] && len(drop) == 0 {
		return cfg, usagef("--drop needs at least one decision, such as crash@3 (default: drop none)")
	}
	o.realBroker = realrun.BrokerMemory
	switch {
	case o.backend == "real" && set["broker"]:
		if o.realBroker, err = realBroker(o.broker.model); err != nil {
			return cfg, err
		}
		// Every real broker is matched by the queue model, but Kafka,
		// by the log.
		o.broker.model = run.DefaultBroker
		if o.realBroker == realrun.BrokerKafka {
			o.broker.model = "log"
		}
	case set["broker"] && slices.Contains(realrun.BrokerServers, strings.TrimSpace(o.broker.model)):
		return cfg, usagef("--broker %s is a real broker: it needs --backend real (the simulator's models: %s)", strings.TrimSpace(o.broker.model), strings.Join(brokerNames(), ", "))
	}
	if o.backend == "real" && o.realBroker != realrun.BrokerNATS && set["nats-url"] {
		return cfg, usagef("--nats-url needs --broker nats")
	}
	if o.backend == "real" && o.realBroker != realrun.BrokerRabbitMQ && set["amqp-url"] {
		return cfg, usagef("--amqp-url needs --broker rabbitmq")
	}
	for _, f := range []string{"kafka-brokers", "kafka-sasl-mechanism", "kafka-sasl-user", "kafka-sasl-password", "kafka-tls"} {
		if o.backend == "real" && o.realBroker != realrun.BrokerKafka && set[f] {
			return cfg, usagef("--%s needs --broker kafka", f)
		}
	}
	model, params, err := o.broker.config(set)
	if err != nil {
		return cfg, err
	}
	if err := strategyRunsOn(o.strategy, model); err != nil {
		return cfg, err
	}
	if o.backend == "real" && o.realBroker == realrun.BrokerKafka {
		// The log's parameters apply; Validate checks them.
	} else if o.backend == "real" && model != run.DefaultBroker {
		return cfg, usagef("--backend real models only the queue for now: --broker %s needs --backend sim", model)
	}
	cfg = sim.Config{
		BrokerModel: model,
		Broker:      params,
		Strategy:    o.strategy,
		Faults:      fset,
		Seed:        o.seed,
		Instances:   o.instances,
		Events:      o.events,
		MarkTTL:     o.markTTL,
		Drop:        drop,
		KeepTrace:   o.trace,
		KeepHistory: o.history != "",
	}
	return cfg, cfg.Validate()
}

// writeJSON writes v as one indented JSON object.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// verdictText is porcupine's verdict in words.
func verdictText(linearizable *bool) string {
	switch {
	case linearizable == nil:
		return "unknown (timed out)"
	case *linearizable:
		return "linearizable"
	}
	return "NOT linearizable"
}

// writeSummary writes the human-readable summary of one run. A real run's
// time is the wall-clock time it took, and is labelled so.
func writeSummary(w io.Writer, r *sim.Result, real bool) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(name string, value any) { fmt.Fprintf(tw, "%s\t%v\n", name, value) }
	row("strategy", r.Strategy)
	if len(r.Faults) == 0 {
		row("faults", faults.None)
	} else {
		row("faults", strings.Join(r.Faults, ", "))
	}
	row("seed", r.Seed)
	row("broker", brokerText(r))
	row("instances", r.Instances)
	row("events", r.Events)
	row("published", r.Published)
	row("deliveries", r.Deliveries)
	row("duplicates", r.Duplicates)
	row("lost", r.Lost)
	row("stuck", r.Stuck)
	if r.Dead > 0 {
		row("dead", fmt.Sprintf("%d (dead-lettered, never applied: neither lost nor ok)", r.Dead))
	}
	if st, ok := strategies.Lookup(r.Strategy); ok && st.Needs.Has(strategies.NeedsPublisher) {
		// A strategy that sends events on: its downstream's counts.
		row("ghosts", fmt.Sprintf("%d (downstream events applied for an effect that rolled back)", r.Ghosts))
		row("downstream lost", fmt.Sprintf("%d (committed effects whose downstream event was never applied)", r.DownstreamLost))
		row("downstream dups", r.DownstreamDuplicates)
	}
	exactlyOnce := "held"
	if r.Violating() {
		exactlyOnce = "VIOLATED"
	}
	row("exactly-once", exactlyOnce)
	row("porcupine", verdictText(r.Linearizable))
	audit := "ok"
	if !r.AuditOK {
		audit = "NOT ok"
	}
	row("audit", audit)
	row("trace hash", r.TraceHash)
	if real {
		row("run time", fmt.Sprintf("%.3f ms (wall clock)", r.SimTimeMS))
	} else {
		row("sim time", fmt.Sprintf("%.3f ms", r.SimTimeMS))
	}
	row("faults injected", formatCounts(r.FaultsInjected))
	if len(r.Decisions) > 0 {
		// The run's fault schedule, as --drop names its decisions.
		row("fault decisions", faults.FormatDecisions(r.Decisions))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.Violating() && len(r.Faults) == 0 {
		if _, err := fmt.Fprintln(w, noFaultCause(r)); err != nil {
			return err
		}
	}
	if r.Violating() {
		if _, err := fmt.Fprintf(w, "reproduce with: %s\n", r.Reproduce); err != nil {
			return err
		}
	}
	return nil
}

// noFaultCause says what broke exactly-once in r, a violating run with no
// injected fault: the broker's ordinary redelivery of the events whose
// acks it lost, which every run has, or, with no ack lost, the strategy
// alone.
func noFaultCause(r *sim.Result) string {
	if n := r.FaultsInjected["lost-ack"]; n > 0 {
		return fmt.Sprintf("no fault was injected: the broker's ordinary at-least-once redelivery caused this: it lost %s (1-5%% of acks are lost in every run) and delivered those events again", plural(n, "ack"))
	}
	return "no fault was injected and no ack was lost: the strategy broke exactly-once on its own"
}

// disagreement describes how the two checkers disagreed on r.
func disagreement(r *sim.Result) string {
	audit := "ok"
	if !r.AuditOK {
		audit = "NOT ok"
	}
	if r.Linearizable == nil {
		return fmt.Sprintf("porcupine could not decide (timed out) while the audit says %s; the two checkers must agree. Please report it with: %s", audit, r.Reproduce)
	}
	return fmt.Sprintf("porcupine says %s but the audit says %s; the two checkers must agree. Please report it with: %s", verdictText(r.Linearizable), audit, r.Reproduce)
}

// brokerText names r's broker model and its parameters that are not the
// default.
func brokerText(r *sim.Result) string {
	s := r.Broker
	if r.AckDeadline != "" {
		s += ", ack deadline " + r.AckDeadline
	}
	if r.NackRetry != "" {
		s += ", nack retry " + r.NackRetry
	}
	if r.Prefetch > 0 {
		s += fmt.Sprintf(", prefetch %d", r.Prefetch)
	}
	if r.MaxDeliveries > 0 {
		s += fmt.Sprintf(", max deliveries %d", r.MaxDeliveries)
	}
	return s
}
