package cli

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/realrun"
	"github.com/idemsim/idemsim/sim"
)

// --broker with --backend real names a broker: memory (queue means it
// too) or nats (rabbitmq: rabbitbroker_test.go; kafka: kafkabroker_test.go), a
// real broker with the simulator is refused, and --nats-url needs nats.
// Each refusal is exit status 2, and nothing runs.
func TestRealBrokerFlag(t *testing.T) {
	base := []string{"run", "--strategy", "db-unique", "--faults", "crash", "--seed", "1"}
	for _, tc := range []struct {
		flags  []string
		broker string // the real run's broker, "" for a refusal
		url    string
		want   string
	}{
		{[]string{"--backend", "real"}, realrun.BrokerMemory, "", ""},
		{[]string{"--backend", "real", "--broker", "queue"}, realrun.BrokerMemory, "", ""},
		{[]string{"--backend", "real", "--broker", "memory"}, realrun.BrokerMemory, "", ""},
		{[]string{"--backend", "real", "--broker", "nats"}, realrun.BrokerNATS, "", ""},
		{[]string{"--backend", "real", "--broker", "nats", "--nats-url", "nats://127.0.0.1:4333"}, realrun.BrokerNATS, "nats://127.0.0.1:4333", ""},
		{[]string{"--backend", "real", "--broker", "log"}, "", "", "with --backend real, --broker kafka runs it on Kafka"},
		{[]string{"--backend", "real", "--broker", "nat"}, "", "", `unknown broker "nat"`},
		{[]string{"--broker", "nats"}, "", "", "--broker nats is a real broker: it needs --backend real (the simulator's models: queue, log)"},
		{[]string{"--nats-url", "nats://127.0.0.1:4333"}, "", "", "--nats-url needs --backend real"},
		{[]string{"--backend", "real", "--nats-url", "nats://127.0.0.1:4333"}, "", "", "--nats-url needs --broker nats"},
		{[]string{"--backend", "real", "--broker", "nats", "--nats-url", ""}, "", "", "--nats-url is empty"},
		{[]string{"--backend", "real", "--broker", "nats", "--nats-url", "http://127.0.0.1:4333"}, "", "", `bad NATS URL "http://127.0.0.1:4333": scheme "http"`},
	} {
		args := append(append([]string(nil), base...), tc.flags...)
		var got []realrun.Config
		e, _, errOut := fakeEnv(nil, nil)
		e.realRun = func(rc realrun.Config) (*sim.Result, error) {
			got = append(got, rc)
			return &sim.Result{Strategy: rc.Strategy, Linearizable: boolPtr(true), AuditOK: true}, nil
		}
		code := e.main(args)
		if tc.broker == "" {
			assert.Equal(t, ExitUsage, code, "%q", args)
			assert.Contains(t, errOut.String(), modelsIn(tc.want), "%q", args)
			assert.Empty(t, got, "%q: nothing runs", args)
			continue
		}
		require.Equal(t, ExitOK, code, "%q: %s", args, errOut.String())
		require.Len(t, got, 1)
		assert.Equal(t, tc.broker, got[0].BrokerServer, "%q", args)
		assert.Equal(t, tc.url, got[0].NATSURL, "%q", args)
	}
}

// The JSON of a real run names the broker it ran on (real_broker) beside
// the simulator's model that matches it (broker); a simulated run's JSON
// has no real_broker.
func TestRealRunJSONNamesItsBroker(t *testing.T) {
	base := []string{"run", "--strategy", "db-unique", "--faults", "crash", "--seed", "1", "--json"}
	for _, b := range []string{"", "nats", "rabbitmq", "kafka"} {
		args := append(append([]string(nil), base...), "--backend", "real")
		want := realrun.BrokerMemory
		if b != "" {
			args, want = append(args, "--broker", b), b
		}
		e, out, errOut := fakeEnv(nil, nil)
		e.realRun = func(rc realrun.Config) (*sim.Result, error) {
			return &sim.Result{Strategy: rc.Strategy, Linearizable: boolPtr(true), AuditOK: true}, nil
		}
		require.Equal(t, ExitOK, e.main(args), "%q: %s", args, errOut.String())
		var got map[string]any
		require.NoError(t, json.Unmarshal(out.Bytes(), &got), out.String())
		assert.Equal(t, want, got["real_broker"], "%q", args)
	}
	e, out, _ := fakeEnv(func(sim.Config) (*sim.Result, error) {
		return &sim.Result{Strategy: "db-unique", Linearizable: boolPtr(true), AuditOK: true}, nil
	}, nil)
	require.Equal(t, ExitOK, e.main(base))
	assert.NotContains(t, out.String(), "real_broker")
}
