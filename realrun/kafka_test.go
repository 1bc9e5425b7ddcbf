package realrun

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/internal/testserver"
	"github.com/idemsim/idemsim/run"
)

// kafkaServers returns a Config on the shared Redis and PostgreSQL and a
// Kafka cluster of the test's own (kfake in process, or the one
// IDEMSIM_KAFKA_BROKERS names), with a prefix of the test's own.
func kafkaServers(t *testing.T, prefix string, kc *testserver.KafkaCluster) Config {
	t.Helper()
	cfg := sharedServers(t, prefix)
	cfg.BrokerServer, cfg.KafkaBrokers = BrokerKafka, strings.Join(kc.Brokers, ",")
	return cfg
}

// kadmOn is a test's own admin client of kc.
func kadmOn(t *testing.T, kc *testserver.KafkaCluster) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kc.ClientOpts()...)
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// topicNames lists the topics of kc, from a client
// of its own: kgo answers a metadata request from its cache for a while,
// which would show a topic just deleted.
func topicNames(t *testing.T, kc *testserver.KafkaCluster) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kc.ClientOpts()...)
	require.NoError(t, err)
	defer cl.Close()
	td, err := kadm.NewClient(cl).ListTopics(ctx)
	require.NoError(t, err)
	return td.Names()
}

func kindsOf(trace []run.Record) map[run.Kind]int {
	k := map[run.Kind]int{}
	for _, r := range trace {
		k[r.Kind]++
	}
	return k
}

// A run on Kafka works end to end, the plain path first: with no fault,
// every strategy of the log settles every event exactly once; the trace
// shows what a client sees (joins, assignments, commits accepted), and
// the strategy sees each record's partition (the account's, k % P, from
// 1) and offset. The run deletes its topic and group at the end.
func TestKafkaRunWorksAndCleansUp(t *testing.T) {
	kc := testserver.Kafka(t)
	for _, st := range []string{"none", "kafka-commit", "db-unique", "offset-in-db"} {
		t.Run(st, func(t *testing.T) {
			cfg := kafkaServers(t, "rr_kafka", kc)
			cfg.Config = run.Config{Strategy: st, Seed: 1, Events: 60, KeepTrace: true}
			var lines []string
			var mu sync.Mutex
			cfg.Progress = func(s string) { mu.Lock(); lines = append(lines, s); mu.Unlock() }
			res := realRun(t, cfg)
			k := kindsOf(res.Trace)
			// On a loaded machine a store call may time out even with
			// no fault: its outcome is unknown, and a strategy with no
			// deduplication then applies the record twice, rightly.
			if st == "db-unique" || st == "offset-in-db" || k[run.Timeout] == 0 {
				assert.Zero(t, res.Duplicates+res.Lost+res.Stuck, "%s on Kafka, no fault: %+v", st, res)
			} else {
				assert.Zero(t, res.Lost+res.Stuck, "%s on Kafka, no fault but a call timed out: %+v", st, res)
			}
			assert.Positive(t, k[run.Join])
			assert.Positive(t, k[run.Assign])
			assert.Positive(t, k[run.Committed], "commits the broker accepted")
			assert.Zero(t, k[run.Requeue], "a client never sees a requeue")
			assert.Less(t, k[run.AckSend], k[run.Deliver], "commits after a batch, not after each record")
			for _, r := range res.Trace {
				if r.Kind == run.Publish {
					require.Positive(t, r.Part, "a record's partition")
				}
			}
			assert.Contains(t, strings.Join(lines, "\n"), "Kafka topic rr_kafka_events")
			assert.NotContains(t, topicNames(t, kc), "rr_kafka_events", "the run deleted its topic")
			assert.Contains(t, res.Reproduce, "--broker kafka")
			assert.Equal(t, BrokerKafka, res.RealBroker, "the result names the broker it ran on")
		})
	}
}

// Under crashes (a member gone with no LeaveGroup: the session timeout
// evicts it) db-unique holds, and none shows the log's duplicates.
func TestKafkaCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("plays up to six runs on Kafka")
	}
	kc := testserver.Kafka(t)
	cfg := kafkaServers(t, "rr_kcrash", kc)
	cfg.Config = run.Config{Strategy: "db-unique", Faults: faults.Of(faults.Crash, faults.Redeliver), Seed: 1, Events: 100, KeepTrace: true}
	res := realRun(t, cfg)
	assert.Zero(t, res.Duplicates+res.Lost+res.Stuck, "db-unique on Kafka under crash: %+v", res)
	assert.Positive(t, kindsOf(res.Trace)[run.Crash])
	dup := false
	for seed := uint64(1); seed <= 5 && !dup; seed++ {
		cfg.Config = run.Config{Strategy: "none", Faults: faults.Of(faults.Crash), Seed: seed, Events: 100}
		dup = realRun(t, cfg).Duplicates > 0
	}
	assert.True(t, dup, "none under crash on Kafka: a record handled and not committed comes again")
}

// A zombie (a member paused past its session timeout) is evicted; when it
// resumes, its commit is fenced, and the record it held is handled again
// by the partition's new owner.
func TestKafkaZombieIsFenced(t *testing.T) {
	if testing.Short() {
		t.Skip("plays up to six runs on Kafka")
	}
	kc := testserver.Kafka(t)
	cfg := kafkaServers(t, "rr_kzombie", kc)
	fenced := 0
	for seed := uint64(1); seed <= 6 && fenced == 0; seed++ {
		cfg.Config = run.Config{Strategy: "kafka-commit", Faults: faults.Of(faults.Zombie), Seed: seed, Events: 100, KeepTrace: true}
		res := realRun(t, cfg)
		fenced = kindsOf(res.Trace)[run.Fenced]
	}
	assert.Positive(t, fenced, "a zombie's commit is fenced")
}

// createTopic makes a topic on kc as a user would, with configs cfgs, and
// puts a record in it.
func createTopic(t *testing.T, kc *testserver.KafkaCluster, adm *kadm.Client, name string, cfgs map[string]*string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := adm.CreateTopic(ctx, 2, 1, cfgs, name)
	require.NoError(t, err)
	cl, err := kgo.NewClient(kc.ClientOpts()...)
	require.NoError(t, err)
	defer cl.Close()
	require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Topic: name, Value: []byte("keep me")}).FirstErr())
}

// A topic of the run's name that idemsim did not create, or a group of
// the run's name that holds another topic's offsets, is refused (exit
// status 2) and left as it was.
func TestKafkaForeignTopicOrGroupIsRefusedUntouched(t *testing.T) {
	kc := testserver.Kafka(t)
	adm := kadmOn(t, kc)
	ctx := context.Background()
	t.Run("topic", func(t *testing.T) {
		ret := "3600000"
		createTopic(t, kc, adm, "rr_kforeign_events", map[string]*string{"retention.ms": &ret})
		cfg := kafkaServers(t, "rr_kforeign", kc)
		cfg.Config = run.Config{Strategy: "db-unique", Seed: 1, Events: 20}
		_, err := Run(ctx, cfg)
		require.Error(t, err)
		assert.ErrorIs(t, err, ErrRefused, "exit status 2")
		assert.Contains(t, err.Error(), "Kafka topic rr_kforeign_events exists but was not created by idemsim")
		assert.Contains(t, err.Error(), "idemsim leaves it untouched")
		ends, err := adm.ListEndOffsets(ctx, "rr_kforeign_events")
		require.NoError(t, err)
		total := int64(0)
		ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
		assert.Equal(t, int64(1), total, "its record kept")
		rc, err := adm.DescribeTopicConfigs(ctx, "rr_kforeign_events")
		require.NoError(t, err)
		r, err := rc.On("rr_kforeign_events", nil)
		require.NoError(t, err)
		for _, c := range r.Configs {
			if c.Key == "retention.ms" {
				assert.Equal(t, ret, *c.Value, "its config unchanged")
			}
		}
	})
	t.Run("group", func(t *testing.T) {
		createTopic(t, kc, adm, "billing", nil)
		_, err := adm.CommitOffsets(ctx, "rr_kgroup_consumers", kadm.OffsetsFromRecords(kgo.Record{Topic: "billing", Partition: 0, Offset: 0}))
		require.NoError(t, err)
		cfg := kafkaServers(t, "rr_kgroup", kc)
		cfg.Config = run.Config{Strategy: "db-unique", Seed: 1, Events: 20}
		_, err = Run(ctx, cfg)
		require.ErrorIs(t, err, ErrRefused)
		assert.Contains(t, err.Error(), "Kafka consumer group rr_kgroup_consumers holds offsets of the topic billing")
		offs, err := adm.FetchOffsets(ctx, "rr_kgroup_consumers")
		require.NoError(t, err)
		o, ok := offs.Lookup("billing", 0)
		assert.True(t, ok && o.At == 1, "its offset kept: %+v", offs)
		assert.NotContains(t, topicNames(t, kc), "rr_kgroup_events", "nothing created beside it")
	})
}

// A killed run's topic (marked) is replaced by the next run, and clean
// removes one, and a leftover group: only what is idemsim's.
func TestKafkaCleanRemovesOnlyMarked(t *testing.T) {
	kc := testserver.Kafka(t)
	adm := kadmOn(t, kc)
	ctx := context.Background()
	mark := kafkaMarkValue
	createTopic(t, kc, adm, "rr_kcl_events", map[string]*string{kafkaMarkKey: &mark})
	createTopic(t, kc, adm, "rr_kother_events", nil)
	cfg := kafkaServers(t, "rr_kcl", kc)
	cfg.Config = run.Config{Strategy: "db-unique", Seed: 1, Events: 20}
	realRun(t, cfg) // replaces the leftover, then deletes its own
	assert.NotContains(t, topicNames(t, kc), "rr_kcl_events")

	createTopic(t, kc, adm, "rr_kcl_events", map[string]*string{kafkaMarkKey: &mark})
	_, err := adm.CommitOffsets(ctx, "rr_kcl_consumers", kadm.OffsetsFromRecords(kgo.Record{Topic: "rr_kcl_events", Partition: 0, Offset: 0}))
	require.NoError(t, err)
	out, err := Clean(ctx, cfg)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"topic rr_kcl_events", "consumer group rr_kcl_consumers"}, out.Kafka)
	assert.NotContains(t, topicNames(t, kc), "rr_kcl_events")

	// A foreign topic, and a group that holds its offsets only: both
	// someone else's.
	_, err = adm.CommitOffsets(ctx, "rr_kother_consumers", kadm.OffsetsFromRecords(kgo.Record{Topic: "rr_kother_events", Partition: 0, Offset: 0}))
	require.NoError(t, err)
	other := kafkaServers(t, "rr_kother", kc)
	out, err = Clean(ctx, other)
	require.NoError(t, err)
	assert.Empty(t, out.Kafka)
	offs, err := adm.FetchOffsets(ctx, "rr_kother_consumers")
	require.NoError(t, err)
	_, kept := offs.Lookup("rr_kother_events", 0)
	assert.True(t, kept, "the foreign topic's group left untouched")
	require.Error(t, out.NotOwned)
	assert.Contains(t, out.NotOwned.Error(), "Kafka topic rr_kother_events exists but was not created by idemsim")
	assert.Contains(t, topicNames(t, kc), "rr_kother_events", "left untouched")
}

// Kafka that dies or freezes mid-run ends the run within seconds, with an
// error naming Kafka, its address and what the run was doing, and no
// verdict. Freezing is kfake answering no request at all.
func TestKafkaFailureMidRunIsNamed(t *testing.T) {
	if testing.Short() {
		t.Skip("breaks a Kafka cluster mid-run")
	}
	for _, tc := range []struct {
		name string
		brk  func(kc *testserver.KafkaCluster)
	}{
		{"killed", func(kc *testserver.KafkaCluster) { kc.Fake.Close() }},
		{"frozen", func(kc *testserver.KafkaCluster) {
			kc.Fake.Control(func(kmsg.Request) (kmsg.Response, error, bool) {
				kc.Fake.KeepControl()
				return nil, nil, true // no answer, ever
			})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kc := testserver.Kafka(t)
			if !kc.Owned {
				t.Skip("breaks only a cluster of the test's own")
			}
			cfg := kafkaServers(t, "rr_kbreak", kc)
			cfg.Config = run.Config{Strategy: "redis", Faults: faults.Of(faults.Crash), Seed: 3, Events: 2000}
			err, took := runAndBreak(t, cfg, func() { tc.brk(kc) })
			require.Error(t, err)
			var se *ServerError
			require.ErrorAs(t, err, &se)
			assert.ErrorIs(t, err, ErrServerFailed)
			assert.Equal(t, "Kafka", se.Server)
			assert.Contains(t, err.Error(), "Kafka at 127.0.0.1:")
			assert.Contains(t, err.Error(), " while ")
			assert.Less(t, took, 10*time.Second, "named within seconds: %v", err)
			t.Logf("%v after the break: %v", took.Round(time.Millisecond), err)
		})
	}
}

// Bad Kafka settings are refused before anything is touched.
func TestKafkaBadSettings(t *testing.T) {
	cfg := sharedServers(t, "rr_kbad")
	cfg.BrokerServer = BrokerKafka
	for _, tc := range []struct{ brokers, want string }{
		{"kafka://127.0.0.1:9092", "want host:port"},
		{"127.0.0.1", "want host:port"},
		{"127.0.0.1:99999", "want 1 to 65535"},
	} {
		cfg.KafkaBrokers = tc.brokers
		cfg.Config = run.Config{Strategy: "kafka-commit", Seed: 1}
		err := cfg.Validate()
		require.ErrorIs(t, err, run.ErrBadConfig, tc.brokers)
		assert.Contains(t, err.Error(), tc.want)
	}
	// A password typed into the seed list is never shown.
	for _, brokers := range []string{"alice:s3cr3tPW@k1:9092,k2:9092", "kafka://alice:s3cr3tPW@k1:9092", "alice:s3cr3tPW@k1"} {
		cfg.KafkaBrokers = brokers
		cfg.Config = run.Config{Strategy: "kafka-commit", Seed: 1}
		err := cfg.Validate()
		require.ErrorIs(t, err, run.ErrBadConfig, brokers)
		assert.NotContains(t, err.Error(), "s3cr3tPW")
		assert.Contains(t, err.Error(), "bad Kafka seed list")
	}
	cfg.KafkaBrokers = KafkaInProcess
	cfg.Config = run.Config{Strategy: "kafka-commit", Seed: 1, Broker: run.BrokerParams{Commit: run.CommitAuto}}
	require.ErrorIs(t, cfg.Validate(), run.ErrBadConfig)
	cfg.Config = run.Config{Strategy: "kafka-commit", Seed: 1, BrokerModel: run.DefaultBroker}
	require.ErrorIs(t, cfg.Validate(), run.ErrBadConfig, "Kafka's model is the log")
	cfg.Config = run.Config{Strategy: "kafka-commit", Seed: 1}
	require.NoError(t, cfg.Validate())
}

// Nothing listens: the run says so within seconds, naming Kafka, and how
// to run on the in-process cluster instead.
func TestKafkaUnreachable(t *testing.T) {
	cfg := sharedServers(t, "rr_kunreach")
	cfg.BrokerServer, cfg.KafkaBrokers = BrokerKafka, "127.0.0.1:1"
	cfg.Config = run.Config{Strategy: "kafka-commit", Seed: 1, Events: 10}
	start := time.Now()
	_, err := Run(context.Background(), cfg)
	require.ErrorIs(t, err, ErrUnreachable)
	assert.Contains(t, err.Error(), "Kafka at 127.0.0.1:1")
	assert.Contains(t, err.Error(), "--kafka-brokers kfake")
	assert.Less(t, time.Since(start), 8*time.Second)
}

// A broker that will not have the run's members (here: a session timeout
// under its minimum, which the run could not read beforehand, as a real
// Kafka's 6 s default refuses the run's 240 ms) ends the run at once, exit
// status 1, naming Kafka and what to do: never a verdict on a group that
// never formed.
func TestKafkaSessionTimeoutRefusedIsNamed(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out the group's first join (3 s)")
	}
	kc := testserver.Kafka(t, kfake.BrokerConfigs(map[string]string{kafkaMinSessionKey: "6000"}))
	if !kc.Owned {
		t.Skip("needs a cluster of the test's own")
	}
	// The run may not describe the brokers (no permission), so it
	// cannot fit its session timeout beforehand.
	kc.Fake.ControlKey(int16(kmsg.DescribeConfigs), func(req kmsg.Request) (kmsg.Response, error, bool) {
		kc.Fake.KeepControl()
		dreq := req.(*kmsg.DescribeConfigsRequest)
		resp := dreq.ResponseKind().(*kmsg.DescribeConfigsResponse)
		for _, r := range dreq.Resources {
			rr := kmsg.NewDescribeConfigsResponseResource()
			rr.ResourceType, rr.ResourceName, rr.ErrorCode = r.ResourceType, r.ResourceName, kerr.ClusterAuthorizationFailed.Code
			resp.Resources = append(resp.Resources, rr)
		}
		return resp, nil, true
	})
	cfg := kafkaServers(t, "rr_ksession", kc)
	cfg.Config = run.Config{Strategy: "kafka-commit", Seed: 1, Events: 20}
	var lines []string
	var mu sync.Mutex
	cfg.Progress = func(s string) { mu.Lock(); lines = append(lines, s); mu.Unlock() }
	start := time.Now()
	res, err := Run(context.Background(), cfg)
	require.Error(t, err)
	assert.Nil(t, res)
	var se *ServerError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "Kafka", se.Server)
	assert.Contains(t, err.Error(), "joining the consumer group rr_ksession_consumers")
	assert.Contains(t, err.Error(), "group.min.session.timeout.ms")
	assert.Less(t, time.Since(start), 10*time.Second)
	mu.Lock()
	defer mu.Unlock()
	assert.Contains(t, strings.Join(lines, "\n"), "could not read the brokers' group.min.session.timeout.ms", "the run said it could not fit")
}

// A cluster whose group.min.session.timeout.ms is above the run's session
// timeout (240 ms) gets a run whose whole clock is stretched to fit: the
// session timeout is the brokers' minimum, the run says so, and it gives
// its verdict, the zombie's pauses (a multiple of the session timeout)
// long enough to be noticed.
func TestKafkaSessionTimeoutFitsTheBrokers(t *testing.T) {
	if testing.Short() {
		t.Skip("a run on a clock four times slower")
	}
	kc := testserver.Kafka(t, kfake.BrokerConfigs(map[string]string{kafkaMinSessionKey: "1000"}))
	if !kc.Owned {
		t.Skip("needs a cluster of the test's own")
	}
	cfg := kafkaServers(t, "rr_kfit", kc)
	cfg.Config = run.Config{Strategy: "kafka-commit", Faults: faults.Of(faults.Zombie), Seed: 1, Events: 30, KeepTrace: true}
	var lines []string
	var mu sync.Mutex
	cfg.Progress = func(s string) { mu.Lock(); lines = append(lines, s); mu.Unlock() }
	res := realRun(t, cfg)
	assert.Zero(t, res.Lost+res.Stuck, "%+v", res)
	mu.Lock()
	out := strings.Join(lines, "\n")
	mu.Unlock()
	assert.Contains(t, out, "session timeout 1s,", "the brokers' minimum")
	assert.Contains(t, out, "max-poll interval 1.66", "stretched as the session timeout")
	assert.Contains(t, out, "the run's whole clock is stretched 4.2 times")
}

// The decisions of the fit, on their own: how much to stretch, what
// stretches, and which of a setting's listed values is in effect.
func TestKafkaSessionFit(t *testing.T) {
	assert.Equal(t, 25.0, stretchFor(240*time.Millisecond, 6*time.Second))
	assert.Equal(t, 1.0, stretchFor(240*time.Millisecond, 100*time.Millisecond), "fits already: unchanged")
	assert.Equal(t, 1.0, stretchFor(240*time.Millisecond, 240*time.Millisecond))
	// What the README quotes, for Kafka's default minimum.
	note := stretchNote(6*time.Second, 240*time.Millisecond, stretchFor(240*time.Millisecond, 6*time.Second))
	assert.Contains(t, note, "group.min.session.timeout.ms is 6s, above the run's session timeout 240ms")
	assert.Contains(t, note, "the run's whole clock is stretched 25.0 times to fit")
	st := DefaultTiming.stretched(25)
	assert.Equal(t, 25*DefaultTiming.AckDeadline, st.AckDeadline, "the clock's scale, hence the session timeout")
	assert.Equal(t, 25*DefaultTiming.PartitionMax, st.PartitionMax)
	assert.Equal(t, 25*DefaultTiming.PublishGapMax, st.PublishGapMax)
	assert.Equal(t, DefaultTiming.Liveness, st.Liveness, "a bound, raised by the caller")
	k := &kafkaServer{}
	k.scaleTimeouts(Config{Timing: st})
	assert.Equal(t, 6*time.Second, k.session)
	v := func(s string) *string { return &s }
	got, ok := effectiveInt([]kadm.Config{
		{Key: kafkaMinSessionKey, Value: v("6000"), Source: kmsg.ConfigSourceDefaultConfig},
		{Key: kafkaMinSessionKey, Value: v("100"), Source: kmsg.ConfigSourceDynamicBrokerConfig},
		{Key: "other", Value: v("1"), Source: kmsg.ConfigSourceDynamicBrokerConfig},
	}, kafkaMinSessionKey)
	assert.True(t, ok)
	assert.EqualValues(t, 100, got, "the value set, over the default")
	_, ok = effectiveInt([]kadm.Config{{Key: "other", Value: v("1")}}, kafkaMinSessionKey)
	assert.False(t, ok)
}

// Each fault shows on Kafka as the log model means it, in what the client
// sees: slow passes the max-poll interval (the member leaves, its commit
// after the stall is fenced), redeliver produces duplicates and loses
// commit replies, a seeking strategy seeks on assignment after a crash,
// rebalance leaves gracefully. The strategies that hold on the log hold.
func TestKafkaFaultsShowInTheTrace(t *testing.T) {
	if testing.Short() {
		t.Skip("plays runs under each fault on Kafka")
	}
	kc := testserver.Kafka(t)
	for _, tc := range []struct {
		strategy string
		fault    faults.Fault
		holds    bool
		shows    func(trace []run.Record) bool
		what     string
	}{
		{"kafka-commit", faults.Slow, false, func(tr []run.Record) bool {
			return countOf(tr, func(r run.Record) bool { return r.Kind == run.Leave && r.Cause == run.MaxPollPassed }) > 0 &&
				kindsOf(tr)[run.Fenced] > 0
		}, "a leave at the max-poll interval, and a fenced commit"},
		{"db-unique", faults.Redeliver, true, func(tr []run.Record) bool {
			return countOf(tr, func(r run.Record) bool { return r.Kind == run.AckLost && r.Cause == run.ReplyLost }) > 0
		}, "a lost commit reply"},
		{"offset-in-db", faults.Crash, true, func(tr []run.Record) bool { return kindsOf(tr)[run.Seek] > 0 }, "a seek on assignment"},
		{"db-unique", faults.Partition, true, func(tr []run.Record) bool { return kindsOf(tr)[run.Partition] > 0 }, "a partition"},
		{"kafka-commit", faults.Rebalance, false, func(tr []run.Record) bool {
			return countOf(tr, func(r run.Record) bool {
				return r.Kind == run.Leave && r.Cause == run.Graceful && r.At < tr[len(tr)-1].At-int64(time.Second)/2
			}) > 0
		}, "a graceful leave mid-run"},
	} {
		t.Run(tc.strategy+"/"+tc.fault.String(), func(t *testing.T) {
			cfg := kafkaServers(t, "rr_kfaults", kc)
			seen := false
			for seed := uint64(1); seed <= 4 && !seen; seed++ {
				cfg.Config = run.Config{Strategy: tc.strategy, Faults: faults.Of(tc.fault), Seed: seed, Events: 100, KeepTrace: true}
				res := realRun(t, cfg)
				if tc.holds {
					assert.Zero(t, res.Duplicates+res.Lost+res.Stuck, "%s under %s, seed %d: %+v", tc.strategy, tc.fault, seed, res)
				}
				seen = tc.shows(res.Trace)
			}
			assert.True(t, seen, "%s under %s: the trace shows %s", tc.strategy, tc.fault, tc.what)
		})
	}
}

func countOf(trace []run.Record, f func(run.Record) bool) int {
	n := 0
	for _, r := range trace {
		if f(r) {
			n++
		}
	}
	return n
}
