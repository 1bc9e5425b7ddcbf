package realrun_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/idemsim/idemsim/realrun"
	"github.com/idemsim/idemsim/run"
)

// TestRefusesBrokerParams: a real run has only the default queue, so it
// refuses other broker parameters rather than ignore them.
func TestRefusesBrokerParams(t *testing.T) {
	err := realrun.Config{Config: run.Config{Strategy: "db-unique", Seed: 1, Broker: run.BrokerParams{Prefetch: 3}}}.Validate()
	assert.ErrorIs(t, err, run.ErrBadConfig)
	assert.Contains(t, err.Error(), "broker parameters")
	assert.NoError(t, realrun.Config{Config: run.Config{Strategy: "db-unique", Seed: 1}}.Validate())
}
