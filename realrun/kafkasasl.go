package realrun

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// kafkaSASL returns the SASL mechanism c's credentials ask for, nil for
// none, or a bad-config error that never quotes the password. c has its
// defaults. The in-process cluster (KafkaInProcess) takes no SASL: given
// with it, credentials are refused, but those only of the environment are
// ignored, as they are for the user's own cluster.
func (c Config) kafkaSASL() (sasl.Mechanism, error) {
	user, pass := c.KafkaSASLUser, c.KafkaSASLPassword
	mech := strings.ToLower(strings.TrimSpace(c.KafkaSASLMechanism))
	if mech+user+pass == "" {
		return nil, nil
	}
	if strings.TrimSpace(c.KafkaBrokers) == KafkaInProcess {
		if !c.saslGiven {
			return nil, nil
		}
		return nil, badConfigf("Kafka SASL settings with --kafka-brokers %s: franz-go's in-process cluster takes no credentials; name your cluster's seed brokers, or leave the SASL settings out", KafkaInProcess)
	}
	from := source(c.saslFrom)
	switch {
	case user == "":
		return nil, badConfigf("a Kafka SASL mechanism or password without a user%s: give the user (--kafka-sasl-user, or IDEMSIM_KAFKA_SASL_USER), or leave SASL out", from)
	case pass == "":
		return nil, badConfigf("Kafka SASL user %q without a password%s: give it in IDEMSIM_KAFKA_SASL_PASSWORD (or --kafka-sasl-password)", user, from)
	case mech == "":
		mech = SASLPlain
	case !slices.Contains(SASLMechanisms, mech):
		return nil, badConfigf("unknown Kafka SASL mechanism %q%s (accepted: %s)", c.KafkaSASLMechanism, from, strings.Join(SASLMechanisms, ", "))
	}
	switch mech {
	case SASLScramSHA256:
		return scram.Auth{User: user, Pass: pass}.AsSha256Mechanism(), nil
	case SASLScramSHA512:
		return scram.Auth{User: user, Pass: pass}.AsSha512Mechanism(), nil
	default:
		return plain.Auth{User: user, Pass: pass}.AsMechanism(), nil
	}
}

// checkKafkaTLS refuses a bad IDEMSIM_KAFKA_TLS, and TLS to the in-process
// cluster, which listens in plain text. c has its defaults.
func (c Config) checkKafkaTLS() error {
	switch v := strings.ToLower(c.tlsEnv); v {
	case "", "0", "1", "true", "false":
	default:
		return badConfigf("%s=%q: want 1 or true (TLS to the brokers), 0, false or unset (none)", envKafkaTLS, c.tlsEnv)
	}
	if c.KafkaTLS && strings.TrimSpace(c.KafkaBrokers) == KafkaInProcess {
		if c.tlsEnv != "" {
			return nil // the environment's, for the user's own cluster
		}
		return badConfigf("--kafka-tls with --kafka-brokers %s: franz-go's in-process cluster listens in plain text", KafkaInProcess)
	}
	return nil
}

// kafkaTLSConfig is the TLS configuration of the run's clients, nil
// without TLS (and on the in-process cluster).
func (c Config) kafkaTLSConfig() *tls.Config {
	if !c.KafkaTLS || strings.TrimSpace(c.KafkaBrokers) == KafkaInProcess {
		return nil
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: c.kafkaTLSRoots}
}

// kafkaTLSHandshake is how long a TLS handshake with a broker may take.
const kafkaTLSHandshake = 2 * time.Second

// secure returns conn, dialed to reach the broker at addr (host:port, the
// broker's own address even when conn goes through a proxy), over TLS
// when the run has it, the handshake done within kafkaTLSHandshake.
func secure(ctx context.Context, cfg *tls.Config, conn net.Conn, addr string) (net.Conn, error) {
	if cfg == nil {
		return conn, nil
	}
	c := cfg.Clone()
	if host, _, err := net.SplitHostPort(addr); err == nil {
		c.ServerName = host
	}
	tc := tls.Client(conn, c)
	hctx, cancel := context.WithTimeout(ctx, kafkaTLSHandshake)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		conn.Close()
		return nil, &tlsError{err}
	}
	return tc, nil
}

// tlsError is a TLS handshake with a broker that failed.
type tlsError struct{ err error }

func (e *tlsError) Error() string { return "TLS handshake: " + e.err.Error() }
func (e *tlsError) Unwrap() error { return e.err }

// kafkaTLSFailed says whether err is a failed TLS handshake with a broker.
func kafkaTLSFailed(err error) bool {
	var te *tlsError
	return errors.As(err, &te)
}
