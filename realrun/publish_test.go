package realrun_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/idemsim/idemsim/realrun"
	"github.com/idemsim/idemsim/run"
)

// TestTakesStrategiesThatPublish: a real run has its downstream topic on
// every broker, so Validate takes every strategy that sends events on,
// on each of them.
func TestTakesStrategiesThatPublish(t *testing.T) {
	brokers := []realrun.Config{{}, {BrokerServer: realrun.BrokerMemory},
		{BrokerServer: realrun.BrokerNATS, NATSURL: "nats://127.0.0.1:4222"},
		{BrokerServer: realrun.BrokerRabbitMQ, AMQPURL: "amqp://guest:guest@127.0.0.1:5672/"},
		{BrokerServer: realrun.BrokerKafka}}
	for _, s := range []string{"publish-after-commit", "publish-in-tx", "outbox"} {
		for _, b := range brokers {
			b.Config = run.Config{Strategy: s, Seed: 1}
			assert.NoError(t, b.Validate(), "%s on %q", s, b.BrokerServer)
		}
	}
}
