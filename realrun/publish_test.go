package realrun_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/idemsim/idemsim/realrun"
	"github.com/idemsim/idemsim/run"
)

// TestRefusesStrategiesThatPublishWithoutADownstream: a real run has its
// downstream topic on the in-process broker, so it takes every strategy
// that sends events on there; on a broker server that has none yet it
// refuses them, before contacting any server, naming what runs them.
func TestRefusesStrategiesThatPublishWithoutADownstream(t *testing.T) {
	for _, s := range []string{"publish-after-commit", "publish-in-tx", "outbox"} {
		for _, b := range []realrun.Config{{}, {BrokerServer: realrun.BrokerMemory}, {BrokerServer: realrun.BrokerNATS, NATSURL: "nats://127.0.0.1:4222"}, {BrokerServer: realrun.BrokerKafka}} {
			b.Config = run.Config{Strategy: s, Seed: 1}
			assert.NoError(t, b.Validate(), s)
		}
		for _, b := range []realrun.Config{{BrokerServer: realrun.BrokerRabbitMQ}} {
			b.Config = run.Config{Strategy: s, Seed: 1}
			err := b.Validate()
			assert.ErrorIs(t, err, run.ErrBadConfig, s)
			assert.ErrorContains(t, err, "downstream", s)
			assert.ErrorContains(t, err, "--broker memory, nats or kafka", s)
		}
	}
}
