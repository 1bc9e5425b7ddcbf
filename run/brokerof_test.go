package run

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBrokerParamsOfKeepsEachModelsOwn(t *testing.T) {
	all := BrokerParams{AckDeadline: NoAckDeadline, NackRetry: 1, Prefetch: 2, MaxDeliveries: 3,
		Partitions: 4, Batch: 5, Commit: CommitRecord, SessionTimeout: 6, MaxPollInterval: 7}
	queue, log := all.Of(DefaultBroker), all.Of(LogBroker)
	assert.Equal(t, BrokerParams{AckDeadline: NoAckDeadline, NackRetry: 1, Prefetch: 2, MaxDeliveries: 3}, queue)
	assert.Equal(t, BrokerParams{Partitions: 4, Batch: 5, Commit: CommitRecord, SessionTimeout: 6, MaxPollInterval: 7}, log)
	assert.Equal(t, queue, all.Of(""), "no name is the queue")
	assert.Equal(t, queue, all.OfAny([]string{DefaultBroker}))
	assert.Equal(t, log, all.OfAny([]string{LogBroker}))
	assert.Equal(t, all, all.OfAny([]string{LogBroker, DefaultBroker}))
	assert.Equal(t, BrokerParams{}, all.OfAny(nil))
	for _, m := range BrokerNames {
		require.NoError(t, Config{Strategy: "none", BrokerModel: m, Broker: all.Of(m)}.Validate(), m)
	}
}
