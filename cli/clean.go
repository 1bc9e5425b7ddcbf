package cli

import (
	"flag"
	"fmt"
	"strings"

	"github.com/idemsim/idemsim/realrun"
	"github.com/idemsim/idemsim/run"
)

// cleanSynopsis is the usage line of `idemsim clean`.
const cleanSynopsis = "idemsim clean [--prefix P] [--redis-url URL] [--postgres-url URL] [--broker memory|nats|rabbitmq|kafka] [--nats-url URL] [--amqp-url URL] [--kafka-brokers HOST:PORT[,...]|kfake] [--kafka-sasl-mechanism M] [--kafka-sasl-user U] [--kafka-sasl-password P] [--kafka-tls]"

const cleanAbout = `
Remove everything that real runs (run --backend real) of a prefix created on
the servers:

  tables     <prefix>_processed, <prefix>_accounts, <prefix>_ledger
             (with its index) and <prefix>_offsets, in PostgreSQL, and
             the payment provider's <prefix>_provider_keys and
             <prefix>_provider_charges, and the outbox's <prefix>_outbox
             and <prefix>_downstream
  marks      the Redis keys <prefix>:run:<run id>:mark:<event id>
  key-value  the Redis keys <prefix>:run:<run id>:kv:<key>: the values
             and sets that strategies keep in the key-value store
  stream     with --broker nats: the NATS JetStream stream <prefix>_events
             and its durable consumer <prefix>_consumers, and the
             downstream stream <prefix>_downstream
  queue      with --broker rabbitmq: the RabbitMQ quorum queue <prefix>_events,
             and the dead-letter queue <prefix>_dead and exchange
             <prefix>_dead_letters of runs with --max-deliveries, and the
             downstream queue <prefix>_downstream
  topic      with --broker kafka: the Kafka topic <prefix>_events and the
             consumer group <prefix>_consumers, and the downstream topic
             <prefix>_downstream

Runs that end delete their own Redis keys; clean removes those that runs
which were killed left behind.

Only what idemsim created is removed: a table of those names without
idemsim's mark (a comment it writes when it creates the table), or a
stream without it (created-by: idemsim in the stream's metadata), a
queue without it (the dead-letter arguments idemsim declares), or a
topic without it (its config delete.retention.ms=86400007), is left
untouched and named, and so is a group with members or with offsets of
another topic; no other key is deleted. It refuses while a run
uses the prefix. Prints what it removed.
`

var cleanOrder = []string{"prefix P", "redis-url URL", "postgres-url URL", "broker B", "nats-url URL", "amqp-url URL", "kafka-brokers B", "kafka-sasl-mechanism M", "kafka-sasl-user U", "kafka-sasl-password P", "kafka-tls"}

// cleanCmd is `idemsim clean`.
func (e *env) cleanCmd(args []string) error {
	var s serverFlags
	fs := flag.NewFlagSet("clean", flag.ContinueOnError)
	s.define(fs, "", "the prefix whose tables and keys to remove")
	var broker string
	fs.StringVar(&broker, "broker", realrun.BrokerMemory,
		"memory (nothing to remove outside Redis and PostgreSQL), nats (also the prefix's NATS stream),\nrabbitmq (also the prefix's RabbitMQ quorum queue, dead-letter queue and exchange) or kafka (also the prefix's Kafka topic and consumer group, --kafka-brokers)")
	help, err := parseFlags(fs, args)
	if help {
		return printCommandHelp(e.stdout, cleanSynopsis, cleanAbout, fs, cleanOrder)
	}
	if err != nil {
		return err
	}
	cfg, err := s.config(setFlags(fs))
	if err != nil {
		return err
	}
	if cfg.BrokerServer, err = realBroker(broker); err != nil {
		return err
	}
	cleaned, err := e.realClean(cfg)
	if err != nil {
		return err
	}
	tables := "no table"
	if len(cleaned.Tables) > 0 {
		tables = "tables " + strings.Join(cleaned.Tables, ", ")
	}
	fmt.Fprintf(e.stdout, "removed %s and %s of prefix %s\n", tables, plural(cleaned.RedisKeys, "Redis key"), cfg.Prefix)
	if cfg.BrokerServer == realrun.BrokerNATS {
		what := "no NATS stream"
		if len(cleaned.NATS) > 0 {
			what = "NATS " + strings.Join(cleaned.NATS, ", ")
		}
		fmt.Fprintf(e.stdout, "removed %s of prefix %s\n", what, cfg.Prefix)
	}
	if cfg.BrokerServer == realrun.BrokerRabbitMQ {
		what := "no RabbitMQ queue"
		if len(cleaned.RabbitMQ) > 0 {
			what = "RabbitMQ " + strings.Join(cleaned.RabbitMQ, ", ")
		}
		fmt.Fprintf(e.stdout, "removed %s of prefix %s\n", what, cfg.Prefix)
	}
	if cfg.BrokerServer == realrun.BrokerKafka {
		what := "no Kafka topic or group"
		if len(cleaned.Kafka) > 0 {
			what = "Kafka " + strings.Join(cleaned.Kafka, ", ")
		}
		fmt.Fprintf(e.stdout, "removed %s of prefix %s\n", what, cfg.Prefix)
	}
	if cleaned.NotOwned != nil {
		fmt.Fprintf(e.stdout, "left untouched: %s\n", userMessage(cleaned.NotOwned))
	}
	return nil
}

// serverFlags are the flags that name the real servers and the prefix, as
// run --backend real and clean take them.
type serverFlags struct {
	redisURL, postgresURL, prefix, natsURL string
	amqpURL                                string
	kafkaBrokers                           string
	// The Kafka cluster's SASL credentials; the password is best given
	// in IDEMSIM_KAFKA_SASL_PASSWORD, out of process listings.
	kafkaSASLMechanism, kafkaSASLUser, kafkaSASLPassword string
	kafkaTLS                                             bool
}

// define defines --redis-url, --postgres-url and --prefix on fs; note
// begins each flag's help.
func (s *serverFlags) define(fs *flag.FlagSet, note, prefixUse string) {
	fs.StringVar(&s.redisURL, "redis-url", "",
		note+"Redis to use (default $IDEMSIM_REDIS_URL, else "+realrun.DefaultRedisURL+")")
	fs.StringVar(&s.postgresURL, "postgres-url", "",
		note+"PostgreSQL to use, a URL or key=value pairs (default $IDEMSIM_POSTGRES_URL,\nelse "+realrun.DefaultPostgresURL+")")
	fs.StringVar(&s.natsURL, "nats-url", "",
		note+"with --broker nats: the NATS server (JetStream) to use, nats://[user:password@]host:port\nor nats://token@host:port (default $IDEMSIM_NATS_URL, else "+realrun.DefaultNATSURL+")")
	fs.StringVar(&s.amqpURL, "amqp-url", "",
		note+"with --broker rabbitmq: the RabbitMQ server to use, amqp://user:password@host:port/vhost\n(default $IDEMSIM_AMQP_URL, else "+realrun.DefaultAMQPURL+")")
	fs.StringVar(&s.kafkaBrokers, "kafka-brokers", "",
		note+"with --broker kafka: the Kafka cluster's seed brokers, host:port[,host:port...], or\n"+realrun.KafkaInProcess+" for franz-go's in-process cluster, started for the run and gone with it\n(default $IDEMSIM_KAFKA_BROKERS, else "+realrun.DefaultKafkaBrokers+")")
	fs.StringVar(&s.kafkaSASLMechanism, "kafka-sasl-mechanism", "",
		note+"with --broker kafka: the cluster's SASL mechanism, "+strings.Join(realrun.SASLMechanisms, ", ")+"\n(default $IDEMSIM_KAFKA_SASL_MECHANISM, else plain when a user is given)")
	fs.StringVar(&s.kafkaSASLUser, "kafka-sasl-user", "",
		note+"with --broker kafka: the SASL user to authenticate as\n(default $IDEMSIM_KAFKA_SASL_USER; none: no SASL)")
	fs.StringVar(&s.kafkaSASLPassword, "kafka-sasl-password", "",
		note+"with --broker kafka: the SASL user's password, never printed (default\n$IDEMSIM_KAFKA_SASL_PASSWORD, the better place for it: a flag's value shows in process listings)")
	fs.BoolVar(&s.kafkaTLS, "kafka-tls", false,
		note+"with --broker kafka: reach the brokers over TLS, their certificates verified against\nthe system's roots (default $IDEMSIM_KAFKA_TLS: 1 or true)")
	fs.StringVar(&s.prefix, "prefix", realrun.DefaultPrefix,
		note+prefixUse+";\na lowercase letter, then up to 39 lowercase letters, digits or underscores")
}

// config checks the flags (an empty value is refused, not taken for the
// default) and returns them as a realrun.Config; set names the flags given.
func (s *serverFlags) config(set map[string]bool) (realrun.Config, error) {
	for _, f := range []struct{ name, value, example string }{
		{"redis-url", s.redisURL, "redis://127.0.0.1:6379/0"},
		{"postgres-url", s.postgresURL, "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"},
		{"prefix", s.prefix, realrun.DefaultPrefix},
		{"nats-url", s.natsURL, realrun.DefaultNATSURL},
		{"amqp-url", s.amqpURL, realrun.DefaultAMQPURL},
		{"kafka-brokers", s.kafkaBrokers, realrun.DefaultKafkaBrokers},
		{"kafka-sasl-mechanism", s.kafkaSASLMechanism, realrun.SASLScramSHA512},
		{"kafka-sasl-user", s.kafkaSASLUser, "alice"},
	} {
		if set[f.name] && strings.TrimSpace(f.value) == "" {
			return realrun.Config{}, usagef("--%s is empty: give one (e.g. %s), or leave the flag out for the default", f.name, f.example)
		}
	}
	cfg := realrun.Config{RedisURL: s.redisURL, PostgresURL: s.postgresURL, Prefix: s.prefix, NATSURL: s.natsURL, KafkaBrokers: s.kafkaBrokers}
	cfg.AMQPURL = s.amqpURL
	cfg.KafkaSASLMechanism, cfg.KafkaSASLUser, cfg.KafkaSASLPassword = s.kafkaSASLMechanism, s.kafkaSASLUser, s.kafkaSASLPassword
	cfg.KafkaTLS = s.kafkaTLS
	if set["kafka-sasl-password"] && s.kafkaSASLPassword == "" {
		return realrun.Config{}, usagef("--kafka-sasl-password is empty: give it, or leave the flag out (default $IDEMSIM_KAFKA_SASL_PASSWORD)")
	}
	return cfg, nil
}

// realBroker reads --broker as a real run takes it: the broker server
// (memory or nats), where the simulator takes a model (queue or log).
// queue is memory: the in-process broker is a queue. The brokers not yet
// supported are refused as such.
func realBroker(name string) (string, error) {
	switch name = strings.TrimSpace(name); name {
	case realrun.BrokerMemory, run.DefaultBroker:
		return realrun.BrokerMemory, nil
	case realrun.BrokerNATS:
		return realrun.BrokerNATS, nil
	case realrun.BrokerRabbitMQ:
		return realrun.BrokerRabbitMQ, nil
	case realrun.BrokerKafka:
		return realrun.BrokerKafka, nil
	case "log":
		return "", usagef("--broker log is the simulator's model: with --backend real, --broker kafka runs it on Kafka (--broker takes %s)", strings.Join(realrun.BrokerServers, ", "))
	}
	return "", unknownName("broker", name, realrun.BrokerServers)
}
