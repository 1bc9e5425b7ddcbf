package realrun_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/idemsim/idemsim/realrun"
	"github.com/idemsim/idemsim/run"
)

// TestRefusesStrategiesThatPublish: a real run has no downstream topic,
// consumer or outbox yet, so it refuses, before contacting any server,
// every strategy that sends events on, naming the simulator.
func TestRefusesStrategiesThatPublish(t *testing.T) {
	for _, s := range []string{"publish-after-commit", "publish-in-tx", "outbox"} {
		for _, b := range []realrun.Config{{}, {BrokerServer: realrun.BrokerKafka}} {
			b.Config = run.Config{Strategy: s, Seed: 1}
			err := b.Validate()
			assert.ErrorIs(t, err, run.ErrBadConfig, s)
			assert.ErrorContains(t, err, "downstream", s)
			assert.ErrorContains(t, err, "--backend sim", s)
		}
	}
}
