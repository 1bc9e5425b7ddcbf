package cli

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/realrun"
	"github.com/idemsim/idemsim/sim"
)

// --broker rabbitmq with --backend real runs on RabbitMQ, with --amqp-url
// or the default; --amqp-url needs it, and a bad or empty one is exit
// status 2 without its password. Nothing runs on a refusal.
func TestRealBrokerRabbitMQFlag(t *testing.T) {
	base := []string{"run", "--strategy", "db-unique", "--faults", "crash", "--seed", "1"}
	for _, tc := range []struct {
		flags  []string
		broker string // the real run's broker, "" for a refusal
		url    string
		want   string
	}{
		{[]string{"--backend", "real", "--broker", "rabbitmq"}, realrun.BrokerRabbitMQ, "", ""},
		{[]string{"--backend", "real", "--broker", "rabbitmq", "--amqp-url", "amqp://u:pw@127.0.0.1:5673/v"}, realrun.BrokerRabbitMQ, "amqp://u:pw@127.0.0.1:5673/v", ""},
		{[]string{"--amqp-url", "amqp://127.0.0.1:5673/"}, "", "", "--amqp-url needs --backend real"},
		{[]string{"--backend", "real", "--amqp-url", "amqp://127.0.0.1:5673/"}, "", "", "--amqp-url needs --broker rabbitmq"},
		{[]string{"--backend", "real", "--broker", "nats", "--amqp-url", "amqp://127.0.0.1:5673/"}, "", "", "--amqp-url needs --broker rabbitmq"},
		{[]string{"--backend", "real", "--broker", "rabbitmq", "--amqp-url", ""}, "", "", "--amqp-url is empty"},
		{[]string{"--backend", "real", "--broker", "rabbitmq", "--amqp-url", "http://u:s3cr3t-pw@127.0.0.1:5673/"}, "", "", `bad AMQP URL "(not shown)"`},
		{[]string{"--broker", "rabbitmq"}, "", "", "--broker rabbitmq is a real broker: it needs --backend real"},
	} {
		args := append(append([]string(nil), base...), tc.flags...)
		var got []realrun.Config
		e, _, errOut := fakeEnv(nil, nil)
		e.realRun = func(rc realrun.Config) (*sim.Result, error) {
			got = append(got, rc)
			return &sim.Result{Strategy: rc.Strategy, Linearizable: boolPtr(true), AuditOK: true}, nil
		}
		code := e.main(args)
		assert.NotContains(t, errOut.String(), "s3cr3t-pw")
		if tc.broker == "" {
			assert.Equal(t, ExitUsage, code, "%q", args)
			assert.Contains(t, errOut.String(), tc.want, "%q", args)
			assert.Empty(t, got, "%q: nothing runs", args)
			continue
		}
		require.Equal(t, ExitOK, code, "%q: %s", args, errOut.String())
		require.Len(t, got, 1)
		assert.Equal(t, tc.broker, got[0].BrokerServer, "%q", args)
		assert.Equal(t, tc.url, got[0].AMQPURL, "%q", args)
	}
}
