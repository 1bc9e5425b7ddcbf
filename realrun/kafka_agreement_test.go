package realrun_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/internal/testserver"
	"github.com/idemsim/idemsim/realrun"
	"github.com/idemsim/idemsim/strategies"
)

// The same on Kafka: the real runs through a Kafka cluster (kfake in
// process, or the one IDEMSIM_KAFKA_BROKERS names) against the
// simulator's log model, cell by cell. The default test run plays a few
// cells (kafka-commit, local-cache and offset-in-db under redeliver, crash
// and zombie: about 15 s);
// IDEMSIM_AGREEMENT_KAFKA=all plays every strategy that runs on the log
// under every fault (IDEMSIM_AGREEMENT_FAULTS narrows the faults, as for
// the others).
func TestSimAndRealKafkaAgree(t *testing.T) {
	if testing.Short() {
		t.Skip("plays strategies under faults on real servers and Kafka")
	}
	kc := testserver.Kafka(t)
	base := realrun.Config{RedisURL: testserver.SharedRedis(t).URL, PostgresURL: testserver.SharedPostgres(t).URL,
		BrokerServer: realrun.BrokerKafka, KafkaBrokers: strings.Join(kc.Brokers, ",")}
	base.BrokerModel = "log"
	// By default: kafka-commit shows the log's duplicates, local-cache
	// holds under redeliver only while each partition keeps one owner
	// (which kfake's missing initial rebalance delay would break, see
	// kafkaBroker.ready), offset-in-db seeks on assignment and must hold
	// under crash and zombie, and fails under redeliver.
	sts := []string{"kafka-commit", "local-cache", "offset-in-db"}
	scenarios := []faults.Set{faults.Of(faults.Redeliver), faults.Of(faults.Crash), faults.Of(faults.Zombie)}
	if os.Getenv("IDEMSIM_AGREEMENT_KAFKA") == "all" {
		only := faults.Known // every fault's cell, id-reuse's too ("all" leaves it out)
		if list := os.Getenv("IDEMSIM_AGREEMENT_FAULTS"); list != "" {
			var err error
			only, err = faults.Parse(list)
			require.NoError(t, err, "IDEMSIM_AGREEMENT_FAULTS")
		}
		sts, scenarios = namedStrategies(t, strategies.NamesOn("log")), nil
		for _, f := range faults.All() {
			if only.Has(f) {
				scenarios = append(scenarios, faults.Of(f))
			}
		}
	}
	if os.Getenv("IDEMSIM_AGREEMENT_KAFKA") != "all" {
		// The strategies that send events on, under the faults that
		// give each its own kind, their downstream on a second topic.
		agree(t, base, []string{"publish-after-commit", "publish-in-tx", "outbox"}, []faults.Set{faults.Of(faults.Crash), faults.Of(faults.Partition)}, agreeRealMax, "rr_kdagree")
	}
	agree(t, base, sts, scenarios, agreeRealMax, "rr_kagree")
}
