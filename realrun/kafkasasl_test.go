package realrun

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/internal/testserver"
	"github.com/idemsim/idemsim/run"
)

// kafkaPassword is the SASL password of the tests' clusters: it must show
// in no output.
const kafkaPassword = "s3cr3tK4fkaPW"

// Bad SASL settings are refused before anything is touched, exit status 2,
// without the password; good ones pass; those of the environment fill in
// what no setting gives, all three together.
func TestKafkaSASLSettings(t *testing.T) {
	for _, env := range []string{envKafkaSASLMechanism, envKafkaSASLUser, envKafkaSASLPassword} {
		t.Setenv(env, "")
	}
	base := sharedServers(t, "rr_ksasl")
	base.BrokerServer, base.KafkaBrokers = BrokerKafka, "k1:9092"
	base.Config = run.Config{Strategy: "kafka-commit", Seed: 1}
	for _, tc := range []struct {
		mech, user, pass string
		want             string // "" for accepted
	}{
		{"", "alice", kafkaPassword, ""},
		{"SCRAM-SHA-256", "alice", kafkaPassword, ""},
		{"scram-sha-512", "alice", kafkaPassword, ""},
		{"plain", "alice", kafkaPassword, ""},
		{"gssapi", "alice", kafkaPassword, `unknown Kafka SASL mechanism "gssapi"`},
		{"", "alice", "", `Kafka SASL user "alice" without a password`},
		{"", "", kafkaPassword, "without a user"},
		{"plain", "", "", "without a user"},
	} {
		cfg := base
		cfg.KafkaSASLMechanism, cfg.KafkaSASLUser, cfg.KafkaSASLPassword = tc.mech, tc.user, tc.pass
		err := cfg.Validate()
		if tc.want == "" {
			assert.NoError(t, err, "%+v", tc)
			continue
		}
		require.ErrorIs(t, err, run.ErrBadConfig, "%+v", tc)
		assert.Contains(t, err.Error(), tc.want)
		assert.NotContains(t, err.Error(), kafkaPassword)
	}
	cfg := base
	cfg.KafkaBrokers, cfg.KafkaSASLUser, cfg.KafkaSASLPassword = KafkaInProcess, "alice", kafkaPassword
	err := cfg.Validate()
	require.ErrorIs(t, err, run.ErrBadConfig, "the in-process cluster takes no credentials")
	assert.Contains(t, err.Error(), "takes no credentials")
	cfg = base
	cfg.BrokerServer, cfg.KafkaBrokers, cfg.KafkaSASLUser, cfg.KafkaSASLPassword = BrokerMemory, "", "alice", kafkaPassword
	require.ErrorIs(t, cfg.Validate(), run.ErrBadConfig, "SASL needs the kafka broker")

	// From the environment: all three, named in the message when bad.
	t.Setenv(envKafkaSASLUser, "alice")
	t.Setenv(envKafkaSASLPassword, kafkaPassword)
	t.Setenv(envKafkaSASLMechanism, "scram-sha-1")
	err = base.Validate()
	require.ErrorIs(t, err, run.ErrBadConfig)
	assert.Contains(t, err.Error(), "IDEMSIM_KAFKA_SASL_*")
	assert.NotContains(t, err.Error(), kafkaPassword)
	t.Setenv(envKafkaSASLMechanism, "SCRAM-SHA-512")
	require.NoError(t, base.Validate())
	got := base.withDefaults()
	assert.Equal(t, "alice", got.KafkaSASLUser)
	assert.Equal(t, kafkaPassword, got.KafkaSASLPassword)
	cfg = base
	cfg.KafkaBrokers = KafkaInProcess
	require.NoError(t, cfg.Validate(), "the environment's credentials name the user's cluster, not kfake: ignored there")
	// A password of the environment is hidden even when the run's
	// settings come from elsewhere.
	assert.NotContains(t, Config{}.scrubber().Scrub("auth as alice/"+kafkaPassword), kafkaPassword)
}

// On a cluster that asks for SASL: the right credentials run, with every
// mechanism; wrong ones, or none, end the run within seconds, naming Kafka
// and the authentication, and no verdict. The password shows nowhere.
func TestKafkaSASLRun(t *testing.T) {
	if testing.Short() {
		t.Skip("plays a run on Kafka")
	}
	kc := testserver.Kafka(t, kfake.EnableSASL(),
		kfake.Superuser("PLAIN", "alice", kafkaPassword),
		kfake.Superuser("SCRAM-SHA-256", "bob", kafkaPassword),
		kfake.Superuser("SCRAM-SHA-512", "carol", kafkaPassword))
	if !kc.Owned {
		t.Skip("needs a cluster of the test's own")
	}
	var out []string
	var mu sync.Mutex
	say := func(s string) { mu.Lock(); out = append(out, s); mu.Unlock() }
	for _, tc := range []struct{ mech, user, pass string }{
		{SASLPlain, "alice", kafkaPassword},
		{SASLScramSHA256, "bob", kafkaPassword},
		{SASLScramSHA512, "carol", kafkaPassword},
	} {
		t.Run(tc.mech, func(t *testing.T) {
			cfg := kafkaServers(t, "rr_ksaslrun", kc)
			cfg.KafkaSASLMechanism, cfg.KafkaSASLUser, cfg.KafkaSASLPassword = tc.mech, tc.user, tc.pass
			cfg.Config = run.Config{Strategy: "kafka-commit", Faults: faults.Of(faults.Crash), Seed: 1, Events: 30}
			cfg.Progress, cfg.Warn = say, say
			res := realRun(t, cfg)
			assert.Zero(t, res.Lost+res.Stuck, "%+v", res)
			assert.NotContains(t, res.Reproduce, kafkaPassword)
			assert.Contains(t, res.Reproduce, "--kafka-sasl-user "+tc.user)
			say(res.Reproduce)
		})
	}
	for _, tc := range []struct {
		name, mech, user, pass, want string
	}{
		{"wrong password", SASLScramSHA256, "bob", kafkaPassword + "x", "SASL authentication failed"},
		{"wrong user", SASLPlain, "mallory", kafkaPassword, "SASL authentication failed"},
		{"wrong mechanism", SASLScramSHA512, "alice", kafkaPassword, "SASL authentication failed"},
		{"no credentials", "", "", "", "authentication"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := kafkaServers(t, "rr_ksaslbad", kc)
			cfg.KafkaSASLMechanism, cfg.KafkaSASLUser, cfg.KafkaSASLPassword = tc.mech, tc.user, tc.pass
			cfg.Config = run.Config{Strategy: "kafka-commit", Seed: 1, Events: 10}
			cfg.Progress, cfg.Warn = say, say
			start := time.Now()
			res, err := Run(context.Background(), cfg)
			require.Error(t, err)
			assert.Nil(t, res, "no verdict")
			var se *ServerError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, "Kafka", se.Server)
			assert.Contains(t, err.Error(), tc.want)
			assert.Less(t, time.Since(start), 8*time.Second, "within seconds")
			say(err.Error())
			say(fmt.Sprintf("%+v %#v", err, err))
			t.Log(err)
		})
	}
	mu.Lock()
	defer mu.Unlock()
	all := strings.Join(out, "\n")
	assert.NotContains(t, all, kafkaPassword, "the password shows in no output")
	assert.NotContains(t, all, strings.ToUpper(kafkaPassword)[:6])
}

// selfSigned returns a server TLS configuration for 127.0.0.1, and the
// pool that trusts it.
func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "idemsim test broker"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
}

// On a cluster that listens with TLS (and asks for SASL): a run with TLS,
// the brokers' certificate trusted, works; one whose roots do not trust it,
// or one without TLS, ends within seconds naming Kafka, and no verdict.
// TLS settings where they cannot apply are refused.
func TestKafkaTLS(t *testing.T) {
	t.Setenv(envKafkaTLS, "")
	cfg := sharedServers(t, "rr_ktlsbad")
	cfg.BrokerServer, cfg.KafkaBrokers, cfg.KafkaTLS = BrokerKafka, KafkaInProcess, true
	cfg.Config = run.Config{Strategy: "kafka-commit", Seed: 1}
	require.ErrorIs(t, cfg.Validate(), run.ErrBadConfig, "kfake in process listens in plain text")
	cfg.BrokerServer, cfg.KafkaBrokers = BrokerMemory, ""
	require.ErrorIs(t, cfg.Validate(), run.ErrBadConfig, "TLS needs Kafka")
	t.Setenv(envKafkaTLS, "yes")
	cfg.BrokerServer, cfg.KafkaBrokers, cfg.KafkaTLS = BrokerKafka, "k1:9092", false
	err := cfg.Validate()
	require.ErrorIs(t, err, run.ErrBadConfig)
	assert.Contains(t, err.Error(), `IDEMSIM_KAFKA_TLS="yes"`)
	t.Setenv(envKafkaTLS, "1")
	require.NoError(t, cfg.Validate())
	assert.True(t, cfg.withDefaults().KafkaTLS)
	t.Setenv(envKafkaTLS, "")
	if testing.Short() {
		return
	}

	serverTLS, roots := selfSigned(t)
	kc := testserver.Kafka(t, kfake.TLS(serverTLS), kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "bob", kafkaPassword))
	if !kc.Owned {
		t.Skip("needs a cluster of the test's own")
	}
	good := kafkaServers(t, "rr_ktls", kc)
	good.KafkaTLS, good.kafkaTLSRoots = true, roots
	good.KafkaSASLMechanism, good.KafkaSASLUser, good.KafkaSASLPassword = SASLScramSHA256, "bob", kafkaPassword
	good.Config = run.Config{Strategy: "kafka-commit", Faults: faults.Of(faults.Crash), Seed: 1, Events: 30}
	res := realRun(t, good)
	assert.Zero(t, res.Lost+res.Stuck, "%+v", res)
	assert.Contains(t, res.Reproduce, "--kafka-tls")

	untrusted := good
	untrusted.kafkaTLSRoots = x509.NewCertPool()
	plain := good
	plain.KafkaTLS = false
	for name, cfg := range map[string]Config{"untrusted": untrusted, "plain": plain} {
		start := time.Now()
		res, err := Run(context.Background(), cfg)
		require.Error(t, err, name)
		assert.Nil(t, res, "%s: no verdict", name)
		var se *ServerError
		require.ErrorAs(t, err, &se, name)
		assert.Equal(t, "Kafka", se.Server, name)
		assert.Less(t, time.Since(start), 8*time.Second, name)
		if name == "untrusted" {
			assert.ErrorIs(t, err, ErrRejected)
			assert.Contains(t, err.Error(), "TLS handshake failed")
		}
		assert.NotContains(t, err.Error(), kafkaPassword)
		t.Logf("%s: %v", name, err)
	}
}
