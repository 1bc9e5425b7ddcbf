package realrun

import (
	"slices"
	"strings"

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
