package idemsimtest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/idemsim/idemsim/realrun"
	"github.com/idemsim/idemsim/run"
)

// RealServers, set as Options.Real, runs ExactlyOnce's sweep on real
// servers instead of the simulator: the strategy's own code against real
// Redis and PostgreSQL, and the broker that Broker names, with real
// faults (closed connections, cut TCP proxies, stalls, deleted keys), as
// `idemsim run --backend real` runs it. A real run is not deterministic,
// so a real sweep finds what the simulator finds only where it is common;
// it is the check that the code holds on the servers it will meet, not a
// replacement for the simulated sweep.
//
// Every setting may be empty: the servers are then the local ones, or
// those the environment names (IDEMSIM_REDIS_URL, IDEMSIM_POSTGRES_URL,
// IDEMSIM_NATS_URL, IDEMSIM_AMQP_URL, IDEMSIM_KAFKA_BROKERS and
// IDEMSIM_KAFKA_SASL_*), as for the command line. The run creates its tables, keys, streams, queues and
// topics under Prefix, marks them as its own, refuses a foreign one of the
// same name and removes them at the end, as a real run does.
//
// A server that cannot be reached, dies or answers an error fails the test
// with what the server did (t.Fatal), never as a verdict on the strategy.
type RealServers struct {
	// Broker is the broker the runs publish to and consume from:
	// "memory" (the in-process queue, the default), "nats", "rabbitmq"
	// or "kafka". The simulator's matching model (the queue; the log for
	// Kafka) says which of ExpectOn's rows holds.
	Broker string
	// The servers' addresses, as the command line's --redis-url,
	// --postgres-url, --nats-url, --amqp-url and --kafka-brokers take
	// them ("kfake" runs Kafka in process).
	RedisURL, PostgresURL, NATSURL, AMQPURL, KafkaBrokers string
	// Kafka's SASL credentials, as --kafka-sasl-mechanism (plain,
	// scram-sha-256 or scram-sha-512), --kafka-sasl-user and
	// --kafka-sasl-password take them; no user: no SASL. The password
	// never shows in a test's output.
	KafkaSASLMechanism, KafkaSASLUser, KafkaSASLPassword string
	// KafkaTLS reaches Kafka over TLS, as --kafka-tls.
	KafkaTLS bool
	// Prefix of what the runs create; default "idemsimtest".
	Prefix string
}

// The default numbers of real seeds per scenario, and the default size of a
// real run. A real run of 100 events takes about a second.
const (
	RealSeeds      = 5
	RealShortSeeds = 2
	RealEvents     = 100
)

// realPrefix is RealServers.Prefix's default.
const realPrefix = "idemsimtest"

// matchingModel is the simulator's model of a real broker: the log for
// Kafka, the queue for the others.
func matchingModel(broker string) string {
	if broker == realrun.BrokerKafka {
		return "log"
	}
	return run.DefaultBroker
}

// realOptions checks o's real settings and returns o with the matching
// model as its one broker and the real defaults of seeds and events.
func realOptions(o Options, short bool) (Options, error) {
	r := *o.Real
	if r.Broker == "" {
		r.Broker = realrun.BrokerMemory
	}
	if !slices.Contains(realrun.BrokerServers, r.Broker) {
		return o, fmt.Errorf("Real.Broker %q: unknown broker (accepted: %s)", r.Broker, strings.Join(realrun.BrokerServers, ", "))
	}
	if len(o.Brokers) > 0 || o.Broker != "" {
		return o, fmt.Errorf("Options.Brokers names simulated models; with Real the broker is Real.Broker (%s), whose model is the %s", r.Broker, matchingModel(r.Broker))
	}
	o.Real = &r
	o.Brokers = []string{matchingModel(r.Broker)}
	if o.Seeds == 0 {
		o.Seeds = RealSeeds
		if short {
			o.Seeds = RealShortSeeds
		}
	}
	if o.Events == 0 {
		o.Events = RealEvents
	}
	return o, nil
}

// realConfig is the real run of cell c with seed.
func (p *plan) realConfig(c *cell, seed uint64) realrun.Config {
	r := p.real
	prefix := r.Prefix
	if prefix == "" {
		prefix = realPrefix
	}
	cfg := p.config(c, seed)
	cfg.KeepTrace = true
	return realrun.Config{
		Config:       cfg,
		RedisURL:     r.RedisURL,
		PostgresURL:  r.PostgresURL,
		Prefix:       prefix,
		BrokerServer: r.Broker,
		NATSURL:      r.NATSURL,
		AMQPURL:      r.AMQPURL,
		KafkaBrokers: r.KafkaBrokers,

		KafkaSASLMechanism: r.KafkaSASLMechanism,
		KafkaSASLUser:      r.KafkaSASLUser,
		KafkaSASLPassword:  r.KafkaSASLPassword,
		KafkaTLS:           r.KafkaTLS,
	}
}

// realRunTimeout bounds one real run, so that a server that hangs in a way
// the run's own deadlines miss still ends the test.
const realRunTimeout = 2 * time.Minute

// validateReal checks p's real runs as a real run checks its settings,
// before any server is contacted: a parameter the broker does not take
// (Options.BrokerParams) is refused with what it takes.
func validateReal(p *plan) error {
	for _, c := range p.cells {
		if err := p.realConfig(c, p.first).Validate(); err != nil {
			return err
		}
	}
	return nil
}

// sweepReal runs every seed of every cell of p on the real servers, one run
// at a time (they share the servers and the prefix), and fills in the
// cells as sweepPlan does. A run that fails (a server, or the strategy's
// New) stops the sweep with its error.
func sweepReal(p *plan) error {
	for _, c := range p.cells {
		for seed := p.first; seed <= p.last; seed++ {
			cfg := p.realConfig(c, seed)
			ctx, cancel := context.WithTimeout(context.Background(), realRunTimeout)
			res, err := realrun.Run(ctx, cfg)
			cancel()
			if err != nil {
				return fmt.Errorf("a real run (%s): %w", cfg.Reproduce(), err)
			}
			o := outcome{kinds: kindsOf(res), told: toldOf(res), agree: res.CheckersAgree()}
			c.record(seed, o)
		}
	}
	return nil
}
