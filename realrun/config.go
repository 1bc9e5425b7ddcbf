package realrun

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

// Default server addresses: the local servers; IDEMSIM_REDIS_URL and
// IDEMSIM_POSTGRES_URL override them.
const (
	DefaultRedisURL    = "redis://127.0.0.1:6379/0"
	DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	DefaultPrefix      = "idemsim"
	DefaultNATSURL     = "nats://127.0.0.1:4222"
	DefaultAMQPURL     = "amqp://guest:guest@127.0.0.1:5672/"
	// DefaultKafkaBrokers is the local Kafka's seed list; KafkaInProcess
	// (--kafka-brokers kfake) runs on franz-go's in-process cluster.
	DefaultKafkaBrokers = "127.0.0.1:9092"
)

// The brokers a real run takes (Config.BrokerServer): the in-process
// queue, NATS JetStream, RabbitMQ and Kafka.
const (
	BrokerMemory   = "memory"
	BrokerNATS     = "nats"
	BrokerRabbitMQ = "rabbitmq"
	BrokerKafka    = "kafka"
)

// BrokerServers lists the brokers a real run supports, the default first.
var BrokerServers = []string{BrokerMemory, BrokerNATS, BrokerRabbitMQ, BrokerKafka}

// The environment variables that name the servers to use when no URL is
// given.
const (
	envRedisURL    = "IDEMSIM_REDIS_URL"
	envPostgresURL = "IDEMSIM_POSTGRES_URL"
	envNATSURL     = "IDEMSIM_NATS_URL"
	envKafka       = "IDEMSIM_KAFKA_BROKERS"
)

// The environment variables of a Kafka cluster's SASL credentials, when
// no flag gives them. The password is best given here: a flag's value
// shows in process listings.
const (
	envKafkaSASLMechanism = "IDEMSIM_KAFKA_SASL_MECHANISM"
	envKafkaSASLUser      = "IDEMSIM_KAFKA_SASL_USER"
	envKafkaSASLPassword  = "IDEMSIM_KAFKA_SASL_PASSWORD"
	envKafkaTLS           = "IDEMSIM_KAFKA_TLS" // 1 or true: Config.KafkaTLS
)

// The SASL mechanisms a real run on Kafka takes (Config.KafkaSASLMechanism,
// in any case).
const (
	SASLPlain       = "plain"
	SASLScramSHA256 = "scram-sha-256"
	SASLScramSHA512 = "scram-sha-512"
)

// SASLMechanisms lists the SASL mechanisms, the default first.
var SASLMechanisms = []string{SASLPlain, SASLScramSHA256, SASLScramSHA512}

// envAMQPURL names the RabbitMQ server to use when no URL is given.
const envAMQPURL = "IDEMSIM_AMQP_URL"

// envProviderURL names the payment provider to use when no URL is given;
// with neither, a run of a strategy that charges starts its own.
const envProviderURL = "IDEMSIM_PROVIDER_URL"

// ProviderURL is the payment provider URL to use when none is given: ""
// when the run is to start its own (idemsim provider).
func ProviderURL() string { return os.Getenv(envProviderURL) }

// AMQPURL is the RabbitMQ URL to use when none is given.
func AMQPURL() string {
	if u := os.Getenv(envAMQPURL); u != "" {
		return u
	}
	return DefaultAMQPURL
}

// KafkaBrokers is the Kafka seed list to use when none is given.
func KafkaBrokers() string {
	if u := os.Getenv(envKafka); u != "" {
		return u
	}
	return DefaultKafkaBrokers
}

// NATSURL is the NATS URL to use when none is given.
func NATSURL() string {
	if u := os.Getenv(envNATSURL); u != "" {
		return u
	}
	return DefaultNATSURL
}

// RedisURL is the Redis URL to use when none is given.
func RedisURL() string {
	if u := os.Getenv(envRedisURL); u != "" {
		return u
	}
	return DefaultRedisURL
}

// PostgresURL is the PostgreSQL URL to use when none is given.
func PostgresURL() string {
	if u := os.Getenv(envPostgresURL); u != "" {
		return u
	}
	return DefaultPostgresURL
}

// fromEnv returns env if it is set, "" otherwise: where a default URL
// came from.
func fromEnv(env string) string {
	if os.Getenv(env) != "" {
		return env
	}
	return ""
}

// source says, for a message about a bad URL, where it came from: "" for
// a URL given, or " (from the environment variable X: fix or unset it)".
func source(env string) string {
	if env == "" {
		return ""
	}
	return " (from the environment variable " + env + ": fix or unset it)"
}

// Config describes one real run. The workload fields mean what they mean in
// run.Config.
type Config struct {
	run.Config
	RedisURL    string // default RedisURL()
	PostgresURL string // default PostgresURL()
	Prefix      string // key and table prefix, default "idemsim"
	// BrokerServer is the broker the run publishes to and consumes
	// from: BrokerMemory (the default, in process), BrokerNATS,
	// BrokerRabbitMQ or BrokerKafka.
	BrokerServer string
	NATSURL      string // with BrokerNATS; default NATSURL()
	AMQPURL      string // with BrokerRabbitMQ; default AMQPURL()
	// KafkaBrokers, with BrokerKafka, is the seed list host:port[,...],
	// or KafkaInProcess; default KafkaBrokers().
	KafkaBrokers string
	// KafkaSASLMechanism, KafkaSASLUser and KafkaSASLPassword, with
	// BrokerKafka, are the cluster's SASL credentials: a mechanism of
	// SASLMechanisms (default plain), a user and a password; defaults
	// from IDEMSIM_KAFKA_SASL_MECHANISM, _USER and _PASSWORD. No user:
	// no SASL. The password never shows in any output.
	KafkaSASLMechanism string
	KafkaSASLUser      string
	KafkaSASLPassword  string
	// KafkaTLS, with BrokerKafka, reaches the brokers over TLS, their
	// certificates verified against the system's roots; default
	// IDEMSIM_KAFKA_TLS (1 or true).
	KafkaTLS bool
	// kafkaTLSRoots, for tests, replaces the system's roots.
	kafkaTLSRoots *x509.CertPool
	// ProviderURL, for a strategy that charges, is the payment provider
	// to charge, http://host:port; default ProviderURL(), and when that
	// is "" the run starts an idemsim provider process of its own.
	ProviderURL string
	Timing      Timing // zero: DefaultTiming
	// Progress, if set, receives one line per phase of the run, and one
	// every few seconds while it goes on.
	Progress func(string)
	// Warn, if set, receives what the run could not clean up (for example
	// Redis keys it could not delete because Redis failed), with how to
	// finish the job.
	Warn func(string)

	// redisFrom and postgresFrom name the environment variable a URL
	// came from, when withDefaults took it from there, for messages.
	redisFrom, postgresFrom, natsFrom, kafkaFrom string
	amqpFrom, providerFrom                       string
	saslFrom                                     string // some SASL settings came from the environment
	saslGiven                                    bool   // some SASL settings were given, not from the environment
	saslRead                                     bool   // withDefaults has read the SASL environment
	tlsEnv                                       string // IDEMSIM_KAFKA_TLS, when KafkaTLS was not given
	// scaled: withDefaults has scaled Timing to the queue's parameters
	// (Timing.withQueueParams), once.
	scaled bool
}

// Timing is the wall-clock scale of a real run: the simulator's timing,
// shrunk so that a run of 200 events takes seconds.
type Timing struct {
	PublishGapMax time.Duration // gaps between events, uniform in [0, max]
	AckDeadline   time.Duration
	NackRetry     time.Duration
	CallTimeout   time.Duration // each store call's own deadline
	HealMargin    time.Duration // the safety phase ends this long after the last publish
	Liveness      time.Duration // then every event must settle within this
	RestartMin    time.Duration
	RestartMax    time.Duration
	PartitionMin  time.Duration
	PartitionMax  time.Duration
	MarkTTL       time.Duration // under ttl: how long marks live
	KeyRetention  time.Duration // under key-expiry: how long the payment provider keeps keys
	LateMin       time.Duration // under ttl: late copies arrive this long after the first
	LateMax       time.Duration
	// Under rebalance: how long a consumer that left gracefully stays
	// down. Where the leaves fall, and when a late consumer starts
	// (scale-out), are moments of the workload: its clock scales them.
	LeaveDownMin time.Duration
	LeaveDownMax time.Duration
}

// DefaultTiming is the timing of `idemsim run --backend real`.
var DefaultTiming = Timing{
	PublishGapMax: 5 * time.Millisecond,
	AckDeadline:   400 * time.Millisecond,
	NackRetry:     50 * time.Millisecond,
	CallTimeout:   150 * time.Millisecond,
	HealMargin:    300 * time.Millisecond,
	Liveness:      20 * time.Second,
	RestartMin:    50 * time.Millisecond,
	RestartMax:    300 * time.Millisecond,
	PartitionMin:  100 * time.Millisecond,
	PartitionMax:  600 * time.Millisecond,
	MarkTTL:       200 * time.Millisecond,
	KeyRetention:  100 * time.Millisecond,
	LateMin:       500 * time.Millisecond,
	LateMax:       1500 * time.Millisecond,
	LeaveDownMin:  30 * time.Millisecond,
	LeaveDownMax:  360 * time.Millisecond,
}

func (c Config) withDefaults() Config {
	if c.Instances == 0 {
		c.Instances = 3
	}
	if c.Events == 0 {
		c.Events = 200
	}
	if c.RedisURL == "" {
		c.RedisURL, c.redisFrom = RedisURL(), fromEnv(envRedisURL)
	}
	if c.PostgresURL == "" {
		c.PostgresURL, c.postgresFrom = PostgresURL(), fromEnv(envPostgresURL)
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.BrokerServer == "" {
		c.BrokerServer = BrokerMemory
	}
	if c.BrokerServer == BrokerNATS && c.NATSURL == "" {
		c.NATSURL, c.natsFrom = NATSURL(), fromEnv(envNATSURL)
	}
	if c.BrokerServer == BrokerRabbitMQ && c.AMQPURL == "" {
		c.AMQPURL, c.amqpFrom = AMQPURL(), fromEnv(envAMQPURL)
	}
	if c.BrokerServer == BrokerKafka {
		if c.KafkaBrokers == "" {
			c.KafkaBrokers, c.kafkaFrom = KafkaBrokers(), fromEnv(envKafka)
		}
		// Each SASL setting not given comes from the environment: the
		// user and mechanism may be flags, the password a variable.
		// Once: a second pass would take them all for given.
		if !c.saslRead {
			c.saslRead = true
			if !c.KafkaTLS {
				c.tlsEnv = os.Getenv(envKafkaTLS)
				c.KafkaTLS = c.tlsEnv == "1" || strings.EqualFold(c.tlsEnv, "true")
			}
			c.saslGiven = c.KafkaSASLMechanism+c.KafkaSASLUser+c.KafkaSASLPassword != ""
			for _, f := range []struct {
				v   *string
				env string
			}{{&c.KafkaSASLMechanism, envKafkaSASLMechanism}, {&c.KafkaSASLUser, envKafkaSASLUser}, {&c.KafkaSASLPassword, envKafkaSASLPassword}} {
				if *f.v == "" && os.Getenv(f.env) != "" {
					*f.v, c.saslFrom = os.Getenv(f.env), "IDEMSIM_KAFKA_SASL_*"
				}
			}
		}
		if c.BrokerModel == "" {
			c.BrokerModel = "log" // Kafka's model in the simulator
		}
	}
	if c.Timing == (Timing{}) {
		c.Timing = DefaultTiming
	}
	if !c.scaled {
		c.Timing = c.Timing.withQueueParams(c.Broker)
		c.scaled = true
	}
	if c.ProviderURL == "" && c.charges() {
		c.ProviderURL, c.providerFrom = ProviderURL(), fromEnv(envProviderURL)
	}
	return c
}

// charges says whether the run's strategy charges the payment provider.
func (c Config) charges() bool {
	st, _ := strategies.Lookup(c.Strategy)
	return st.Needs.Has(strategies.NeedsProvider)
}

// Validate reports bad input: everything run.Config.Validate checks, the
// prefix, and the URLs as the drivers parse them (PostgreSQL also takes
// libpq's key=value form). It does not contact the servers. Empty settings
// mean the defaults.
func (c Config) Validate() error {
	if c.ProviderURL != "" && !c.charges() {
		return badConfigf("a payment provider URL needs a strategy that charges (%s)", strings.Join(chargingStrategies(), ", "))
	}
	if c.BrokerServer == BrokerKafka {
		return c.validateKafka()
	}
	if err := c.Config.Validate(); err != nil {
		return err
	}
	if m := c.Config.WithDefaults().BrokerModel; m != run.DefaultBroker {
		return badConfigf("--broker %s: a real run's broker is a queue (memory, in process, nats or rabbitmq) or Kafka, whose model is the log; the log runs in the simulator or on kafka", m)
	}
	if err := c.withDefaults().validateQueueParams(); err != nil {
		return err
	}
	return validateSettings(c.withDefaults())
}

// scrubber hides the secrets of every server setting of c.
func (c Config) scrubber() *Scrubber {
	// A Kafka seed list holds no secret (SASL takes its own settings),
	// but one may be typed into it (user:password@host:port): hidden too.
	return NewScrubber(c.RedisURL, c.PostgresURL, c.NATSURL, c.AMQPURL, c.KafkaBrokers, c.ProviderURL).
		WithSecrets(c.KafkaSASLPassword, os.Getenv(envKafkaSASLPassword))
}

// validateSettings checks the server settings and the prefix of c, whose
// defaults are filled in.
func validateSettings(c Config) error {
	if err := strategies.ValidatePrefix(c.Prefix); err != nil {
		return badConfigf("%s", strings.TrimPrefix(err.Error(), "strategies: "))
	}
	if c.AMQPURL != "" && c.amqpFrom == "" && c.BrokerServer != BrokerRabbitMQ {
		return badConfigf("an AMQP URL needs the rabbitmq broker (--broker rabbitmq)")
	}
	if c.BrokerServer != BrokerKafka && c.KafkaSASLMechanism+c.KafkaSASLUser+c.KafkaSASLPassword != "" {
		return badConfigf("Kafka SASL settings need the kafka broker (--broker kafka)")
	}
	if c.BrokerServer != BrokerKafka && c.KafkaTLS {
		return badConfigf("Kafka TLS needs the kafka broker (--broker kafka)")
	}
	switch c.BrokerServer {
	case BrokerMemory:
		if c.NATSURL != "" && c.natsFrom == "" {
			return badConfigf("a NATS URL needs the nats broker (--broker nats)")
		}
		if c.KafkaBrokers != "" {
			return badConfigf("a Kafka seed list needs the kafka broker (--broker kafka)")
		}
	case BrokerNATS:
		if err := checkNATSURL(c.NATSURL); err != nil {
			return badConfigf("bad NATS URL %q%s: %v (want nats://[user:password@]host:port, or nats://token@host:port; tls:// for TLS)",
				redactNATS(c.NATSURL), source(c.natsFrom), err)
		}
	case BrokerRabbitMQ:
		if err := checkAMQPURL(c.AMQPURL); err != nil {
			return badConfigf("bad AMQP URL %q%s: %v (want amqp://user:password@host:port/vhost, amqps://... for TLS)",
				redactAMQP(c.AMQPURL), source(c.amqpFrom), err)
		}
	case BrokerKafka:
		if _, err := checkKafkaBrokers(c.KafkaBrokers); err != nil {
			// A seed list with a user and password in it is shown
			// without them (StripPassword), or not at all.
			shown := StripPassword(c.KafkaBrokers)
			if shown == "" {
				shown = "(not shown)"
			}
			return badConfigf("bad Kafka seed list %q%s: %v (want host:port[,host:port...], or %s for franz-go's in-process cluster)",
				shown, source(c.kafkaFrom), NewScrubber(c.KafkaBrokers).Scrub(err.Error()), KafkaInProcess)
		}
		if err := c.checkKafkaTLS(); err != nil {
			return err
		}
		if _, err := c.kafkaSASL(); err != nil {
			// A password may be typed where a user or a mechanism
			// goes, or be a word of the message: hidden.
			return c.scrubber().Error(err)
		}
	default:
		return badConfigf("unknown broker %q for a real run (accepted: %s)", c.BrokerServer, strings.Join(BrokerServers, ", "))
	}
	if c.ProviderURL != "" {
		if err := checkProviderURL(c.ProviderURL); err != nil {
			return badConfigf("bad payment provider URL %q%s: %v (want http://host:port, as idemsim provider prints it; https:// for TLS)",
				Redact(c.ProviderURL), source(c.providerFrom), err)
		}
	}
	scrub := NewScrubber(c.RedisURL, c.PostgresURL)
	if _, err := redis.ParseURL(c.RedisURL); err != nil {
		return badConfigf("bad Redis URL %q%s: %s (want redis://[user:password@]host:port/db, rediss://... for TLS, or unix:///path)",
			Redact(c.RedisURL), source(c.redisFrom), scrub.Scrub(strings.TrimPrefix(err.Error(), "redis: ")))
	}
	if _, err := pgxpool.ParseConfig(c.PostgresURL); err != nil {
		return badConfigf("bad PostgreSQL URL %q%s: %s (want postgres://user[:password]@host:port/database?sslmode=disable, or key=value pairs such as 'host=127.0.0.1 user=postgres')",
			Redact(c.PostgresURL), source(c.postgresFrom), scrub.Scrub(err.Error()))
	}
	return nil
}

// chargingStrategies names the strategies that charge the payment
// provider.
func chargingStrategies() []string {
	var out []string
	for _, n := range strategies.Names() {
		if st, _ := strategies.Lookup(n); st.Needs.Has(strategies.NeedsProvider) {
			out = append(out, n)
		}
	}
	return out
}

// checkProviderURL checks a payment provider URL: http or https, a host
// and port, no path, query or fragment.
func checkProviderURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return errors.New(strings.TrimPrefix(NewScrubber(s).Scrub(err.Error()), "parse "))
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("scheme %q", u.Scheme)
	case u.Host == "" || u.Hostname() == "":
		return errors.New("no host")
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "":
		return errors.New("a path, query or fragment: give the provider's root")
	case u.User != nil:
		return errors.New("a user or password: idemsim's provider takes none")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %q", p)
		}
	}
	return nil
}

// validateKafka checks a run on Kafka: its model is the log, with the
// log's parameters (commit after each batch or each record; auto-commit
// is not offered on a real run).
func (c Config) validateKafka() error {
	cc := c.withDefaults()
	if cc.BrokerModel != "log" {
		return badConfigf("--broker kafka: Kafka's model is the log, not the %s", cc.BrokerModel)
	}
	if err := cc.Config.Validate(); err != nil {
		return err
	}
	if cc.Broker.Commit == run.CommitAuto {
		return badConfigf("--commit auto: a real run on Kafka commits after each batch or each record (--commit batch|record)")
	}
	return validateSettings(cc)
}
