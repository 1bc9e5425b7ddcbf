package realrun_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/idemsim/idemsim/realrun"
	"github.com/idemsim/idemsim/run"
)

// TestRefusesStrategiesThatCharge: a real run has no payment provider yet,
// so it refuses, before contacting any server, every strategy that charges
// one, naming the simulator.
func TestRefusesStrategiesThatCharge(t *testing.T) {
	for _, s := range []string{"api-no-key", "api-key", "api-key-db"} {
		for _, b := range []realrun.Config{{}, {BrokerServer: realrun.BrokerKafka}} {
			b.Config = run.Config{Strategy: s, Seed: 1}
			err := b.Validate()
			assert.ErrorIs(t, err, run.ErrBadConfig, s)
			assert.ErrorContains(t, err, "payment provider", s)
			assert.ErrorContains(t, err, "--backend sim", s)
		}
	}
}
