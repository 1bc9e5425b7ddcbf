package realrun

import (
	"net/url"
	"strings"

	"github.com/idemsim/idemsim/run"
)

// Reproduce is the command line that replays this run's workload and
// faults on real servers: the simulated run's flags, --backend real, and
// the prefix and server addresses where they are not the defaults. Server
// addresses come without their passwords (give those again, through the
// environment). A real run is not reproducible byte for byte; the seed
// fixes the workload and each fault's decisions.
func (c Config) Reproduce() string {
	cmd := c.Config.Reproduce() + " --backend real"
	if c.Prefix != "" && c.Prefix != DefaultPrefix {
		cmd += " --prefix " + c.Prefix
	}
	if c.RedisURL != "" && c.RedisURL != DefaultRedisURL {
		if u := StripPassword(c.RedisURL); u != "" {
			cmd += " --redis-url " + shellQuote(u)
		}
	}
	if c.PostgresURL != "" && c.PostgresURL != DefaultPostgresURL {
		if u := StripPassword(c.PostgresURL); u != "" {
			cmd += " --postgres-url " + shellQuote(u)
		}
	}
	if c.BrokerServer == BrokerNATS {
		// The real broker takes the place of the model it matches.
		if q := " --broker " + run.DefaultBroker; strings.Contains(cmd, q) {
			cmd = strings.Replace(cmd, q, "", 1)
		}
		cmd += " --broker nats"
		// A NATS URL's user may be a token: the whole user part goes.
		if u, err := url.Parse(c.NATSURL); err == nil && c.NATSURL != DefaultNATSURL && c.NATSURL != "" {
			u.User = nil
			cmd += " --nats-url " + shellQuote(u.String())
		}
	}
	if c.BrokerServer == BrokerRabbitMQ {
		if q := " --broker " + run.DefaultBroker; strings.Contains(cmd, q) {
			cmd = strings.Replace(cmd, q, "", 1)
		}
		cmd += " --broker rabbitmq"
		if c.AMQPURL != "" && c.AMQPURL != DefaultAMQPURL {
			if u := StripPassword(c.AMQPURL); u != "" {
				cmd += " --amqp-url " + shellQuote(u)
			}
		}
	}
	if c.BrokerServer == BrokerKafka {
		// Kafka takes the place of the log, which it matches.
		if q := " --broker log"; strings.Contains(cmd, q) {
			cmd = strings.Replace(cmd, q, " --broker kafka", 1)
		} else {
			cmd += " --broker kafka"
		}
		if c.KafkaBrokers != "" && c.KafkaBrokers != DefaultKafkaBrokers {
			cmd += " --kafka-brokers " + shellQuote(c.KafkaBrokers)
		}
		// SASL's user and mechanism, never its password: the command
		// takes it from IDEMSIM_KAFKA_SASL_PASSWORD, and says so if
		// it is missing.
		if c.KafkaSASLMechanism != "" {
			cmd += " --kafka-sasl-mechanism " + shellQuote(strings.ToLower(strings.TrimSpace(c.KafkaSASLMechanism)))
		}
		if c.KafkaSASLUser != "" {
			cmd += " --kafka-sasl-user " + shellQuote(c.KafkaSASLUser)
		}
		if c.KafkaTLS {
			cmd += " --kafka-tls"
		}
	}
	if c.ProviderURL != "" && checkProviderURL(c.ProviderURL) == nil {
		// A valid provider URL holds no secret (no user, no query).
		cmd += " --provider-url " + shellQuote(c.ProviderURL)
	}
	return cmd
}

// shellQuote quotes s for a POSIX shell, unless it needs no quotes.
func shellQuote(s string) string {
	safe := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%+=:,./_-", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
