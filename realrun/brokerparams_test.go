package realrun_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/idemsim/idemsim/realrun"
	"github.com/idemsim/idemsim/run"
)

// TestQueueParamsPerBroker: a real run takes the queue's parameters its
// broker has, and refuses the others with a message that names the broker
// and what it takes; a duration is scaled to the real run's clock as the
// default ack deadline is.
func TestQueueParamsPerBroker(t *testing.T) {
	cfg := func(b string, p run.BrokerParams) realrun.Config {
		return realrun.Config{Config: run.Config{Strategy: "db-unique", Seed: 1, Broker: p}, BrokerServer: b}
	}
	for _, ok := range []realrun.Config{
		cfg(realrun.BrokerNATS, run.BrokerParams{AckDeadline: 10 * time.Second, Prefetch: 3, MaxDeliveries: 2, NackRetry: time.Second}),
		cfg(realrun.BrokerRabbitMQ, run.BrokerParams{AckDeadline: run.NoAckDeadline, Prefetch: 3, MaxDeliveries: 2}),
		cfg(realrun.BrokerMemory, run.BrokerParams{AckDeadline: 10 * time.Second, MaxDeliveries: 2}),
		cfg(realrun.BrokerMemory, run.BrokerParams{}),
	} {
		assert.NoError(t, ok.Validate(), "%+v", ok)
	}
	for _, bad := range []struct {
		cfg  realrun.Config
		want string
	}{
		{cfg(realrun.BrokerRabbitMQ, run.BrokerParams{AckDeadline: time.Second}), "RabbitMQ has no ack deadline"},
		{cfg(realrun.BrokerNATS, run.BrokerParams{AckDeadline: run.NoAckDeadline}), "NATS JetStream always has an ack deadline"},
		{cfg(realrun.BrokerMemory, run.BrokerParams{AckDeadline: run.NoAckDeadline}), "in-process broker"},
		{cfg(realrun.BrokerMemory, run.BrokerParams{Prefetch: 2}), "one delivery at a time"},
	} {
		err := bad.cfg.Validate()
		assert.ErrorIs(t, err, run.ErrBadConfig)
		if assert.Error(t, err) {
			assert.Contains(t, err.Error(), bad.want)
		}
	}
	assert.Equal(t, 800*time.Millisecond, realrun.ScaledTiming(cfg(realrun.BrokerNATS, run.BrokerParams{AckDeadline: 10 * time.Second})).AckDeadline,
		"10s is twice the simulator's default: twice the real run's")
	assert.Equal(t, realrun.DefaultTiming.AckDeadline, realrun.ScaledTiming(cfg(realrun.BrokerRabbitMQ, run.BrokerParams{AckDeadline: run.NoAckDeadline})).AckDeadline)
}
