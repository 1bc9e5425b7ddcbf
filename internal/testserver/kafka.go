package testserver

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// The environment variables that point tests at an existing Kafka (or
// Redpanda) cluster instead of an in-process kfake one. The password has a
// variable of its own, never a URL or a flag, so that it stays out of
// command lines, process listings and the seed list that messages quote.
const (
	envKafkaBrokers       = "IDEMSIM_KAFKA_BROKERS"        // comma-separated host:port seed list
	envKafkaSASLMechanism = "IDEMSIM_KAFKA_SASL_MECHANISM" // PLAIN (default), SCRAM-SHA-256 or SCRAM-SHA-512
	envKafkaSASLUser      = "IDEMSIM_KAFKA_SASL_USER"
	envKafkaSASLPassword  = "IDEMSIM_KAFKA_SASL_PASSWORD"
)

// KafkaCluster is a Kafka cluster for a test: franz-go's kfake cluster
// running in the test process, or the existing cluster
// IDEMSIM_KAFKA_BROKERS names.
type KafkaCluster struct {
	// Brokers are the cluster's seed brokers (host:port), for
	// kgo.SeedBrokers.
	Brokers []string
	// Owned reports whether testserver started the cluster (kfake), so
	// that Fake can be used to inject faults.
	Owned bool
	// Fake is the in-process cluster when Owned, nil otherwise. Its
	// Control hooks intercept requests, to delay or fail them.
	Fake *kfake.Cluster

	sasl sasl.Mechanism // nil without SASL
}

// Kafka returns a Kafka cluster for tb: the cluster IDEMSIM_KAFKA_BROKERS
// names when it is set (with SASL when IDEMSIM_KAFKA_SASL_USER is set),
// otherwise a kfake cluster in the test process, closed when tb ends.
//
// kfake speaks the Kafka protocol (produce, fetch, consumer groups with
// session and rebalance timeouts, offset commits, transactions) on loopback
// ports, and needs nothing installed, so it never skips. By default it has
// one broker and accepts group session timeouts from 100 ms, so that tests
// can evict a member quickly (a real broker's minimum is 6 s); opts are
// applied after those defaults. Unlike a real cluster it has no initial
// rebalance delay: the first member of a group gets every partition at
// once, and a rebalance follows as others join.
//
// The minimum is set as the broker setting group.min.session.timeout.ms
// (kfake.BrokerConfigs), not kfake.GroupMinSessionTimeout, because kfake
// reports only the former when a client describes its brokers, as a real
// run does to fit its session timeout: to test another minimum, pass
// kfake.BrokerConfigs with that key.
func Kafka(tb testing.TB, opts ...kfake.Opt) *KafkaCluster {
	tb.Helper()
	if os.Getenv(envKafkaBrokers) != "" {
		c, err := externalKafka()
		if err != nil {
			tb.Fatalf("%v", err)
		}
		return c
	}
	all := append([]kfake.Opt{kfake.NumBrokers(1), kfake.BrokerConfigs(map[string]string{"group.min.session.timeout.ms": "100"})}, opts...)
	fake, err := kfake.NewCluster(all...)
	if err != nil {
		tb.Fatalf("testserver: starting kfake: %v", err)
	}
	tb.Cleanup(fake.Close)
	return &KafkaCluster{Brokers: fake.ListenAddrs(), Owned: true, Fake: fake}
}

// ClientOpts returns the kgo options that reach the cluster: its seed
// brokers, and SASL when the environment asks for it.
func (c *KafkaCluster) ClientOpts() []kgo.Opt {
	opts := []kgo.Opt{kgo.SeedBrokers(c.Brokers...)}
	if c.sasl != nil {
		opts = append(opts, kgo.SASL(c.sasl))
	}
	return opts
}

// externalKafka checks that the cluster IDEMSIM_KAFKA_BROKERS names
// answers a metadata request within five seconds.
func externalKafka() (*KafkaCluster, error) {
	var brokers []string
	for _, b := range strings.Split(os.Getenv(envKafkaBrokers), ",") {
		if b = strings.TrimSpace(b); b != "" {
			brokers = append(brokers, b)
		}
	}
	if len(brokers) == 0 {
		return nil, fmt.Errorf("testserver: %s names no broker (want host:port[,host:port...])", envKafkaBrokers)
	}
	c := &KafkaCluster{Brokers: brokers}
	mech, err := kafkaSASLFromEnv()
	if err != nil {
		return nil, err
	}
	c.sasl = mech
	cl, err := kgo.NewClient(append(c.ClientOpts(), kgo.DialTimeout(2*time.Second), kgo.RetryTimeout(4*time.Second))...)
	if err != nil {
		return nil, fmt.Errorf("testserver: %s=%s: %v", envKafkaBrokers, strings.Join(brokers, ","), err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cl.Ping(ctx); err != nil {
		return nil, fmt.Errorf("testserver: %s: Kafka at %s did not answer within 5 s: %s",
			envKafkaBrokers, strings.Join(brokers, ","), hidePassword(err.Error(), os.Getenv(envKafkaSASLPassword)))
	}
	return c, nil
}

// kafkaSASLFromEnv returns the SASL mechanism the environment asks for, or
// nil when IDEMSIM_KAFKA_SASL_USER is not set. Its errors never quote the
// password.
func kafkaSASLFromEnv() (sasl.Mechanism, error) {
	user, pass := os.Getenv(envKafkaSASLUser), os.Getenv(envKafkaSASLPassword)
	mech := strings.ToUpper(strings.TrimSpace(os.Getenv(envKafkaSASLMechanism)))
	if user == "" {
		if pass != "" || mech != "" {
			return nil, fmt.Errorf("testserver: %s or %s is set without %s", envKafkaSASLPassword, envKafkaSASLMechanism, envKafkaSASLUser)
		}
		return nil, nil
	}
	switch mech {
	case "", "PLAIN":
		return plain.Auth{User: user, Pass: pass}.AsMechanism(), nil
	case "SCRAM-SHA-256":
		return scram.Auth{User: user, Pass: pass}.AsSha256Mechanism(), nil
	case "SCRAM-SHA-512":
		return scram.Auth{User: user, Pass: pass}.AsSha512Mechanism(), nil
	default:
		return nil, fmt.Errorf("testserver: %s=%q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", envKafkaSASLMechanism, mech)
	}
}

// hidePassword replaces pass in msg by the mask, when it is long enough not
// to blank out ordinary words.
func hidePassword(msg, pass string) string {
	if len(pass) < 3 {
		return msg
	}
	return strings.ReplaceAll(msg, pass, "xxxxx")
}
