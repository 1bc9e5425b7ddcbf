package testserver

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKafkaProduceConsumeCommit creates a topic, produces to it, consumes
// it with a consumer group and manual commits, and checks that a second
// member of the group, started after the first leaves, resumes after the
// committed offsets.
func TestKafkaProduceConsumeCommit(t *testing.T) {
	t.Parallel()
	c := Kafka(t)
	require.NotEmpty(t, c.Brokers)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := fmt.Sprintf("idemsim_test_%d", time.Now().UnixNano())
	group := topic + "_group"

	admin, err := kgo.NewClient(c.ClientOpts()...)
	require.NoError(t, err)
	defer admin.Close()
	adm := kadm.NewClient(admin)
	created, err := adm.CreateTopic(ctx, 3, 1, nil, topic)
	require.NoError(t, err)
	require.NoError(t, created.Err)
	defer func() {
		_, _ = adm.DeleteTopics(context.Background(), topic)
		_, _ = adm.DeleteGroups(context.Background(), group)
	}()

	const n = 30
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(strconv.Itoa(i)), Value: []byte("m" + strconv.Itoa(i))})
	}
	require.NoError(t, admin.ProduceSync(ctx, recs...).FirstErr())

	consume := func(want int) map[string]bool {
		cl, err := kgo.NewClient(append(c.ClientOpts(),
			kgo.ConsumerGroup(group),
			kgo.ConsumeTopics(topic),
			kgo.DisableAutoCommit(),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.SessionTimeout(time.Second),
			kgo.HeartbeatInterval(300*time.Millisecond),
		)...)
		require.NoError(t, err)
		defer cl.Close() // leaves the group
		seen := map[string]bool{}
		for len(seen) < want {
			fs := cl.PollFetches(ctx)
			require.NoError(t, ctx.Err(), "consumed %d of %d", len(seen), want)
			fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
			var batch []*kgo.Record
			fs.EachRecord(func(r *kgo.Record) {
				seen[string(r.Value)] = true
				batch = append(batch, r)
			})
			// Commit what was handled, before polling again.
			require.NoError(t, cl.CommitRecords(ctx, batch...))
		}
		return seen
	}

	first := consume(n)
	assert.Len(t, first, n)

	// Offsets of the group: every partition committed to its end.
	offsets, err := adm.FetchOffsets(ctx, group)
	require.NoError(t, err)
	var committed int64
	offsets.Each(func(o kadm.OffsetResponse) {
		require.NoError(t, o.Err)
		committed += o.At
	})
	assert.Equal(t, int64(n), committed, "the commits cover every record")

	// A new member resumes after the commits: it sees only what is
	// produced afterwards.
	require.NoError(t, admin.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("late")}).FirstErr())
	second := consume(1)
	assert.Equal(t, map[string]bool{"late": true}, second)
}

func TestKafkaBrokersFromEnvironment(t *testing.T) {
	owned := Kafka(t)
	t.Setenv(envKafkaBrokers, owned.Brokers[0])
	c := Kafka(t)
	assert.False(t, c.Owned)
	assert.Nil(t, c.Fake)
	assert.Equal(t, owned.Brokers[:1], c.Brokers)

	t.Setenv(envKafkaSASLUser, "")
	t.Setenv(envKafkaSASLPassword, "s3cr3tPW")
	rec := record(t, func(tb testing.TB) { Kafka(tb) })
	assert.True(t, rec.failed, "a password without a user is refused")
	assert.NotContains(t, rec.msg, "s3cr3tPW")

	port, err := freePort()
	require.NoError(t, err)
	t.Setenv(envKafkaSASLPassword, "")
	t.Setenv(envKafkaBrokers, "127.0.0.1:"+strconv.Itoa(port))
	began := time.Now()
	rec = record(t, func(tb testing.TB) { Kafka(tb) })
	assert.True(t, rec.failed, "an unreachable cluster fails the test")
	assert.Contains(t, rec.msg, "127.0.0.1:"+strconv.Itoa(port))
	assert.Contains(t, rec.msg, envKafkaBrokers)
	assert.Less(t, time.Since(began), 7*time.Second)
}

// TestKafkaSASLFromEnvironment points Kafka at a kfake cluster that wants
// SASL: the right user and password reach it, a wrong password fails the
// test within seconds without printing the password.
func TestKafkaSASLFromEnvironment(t *testing.T) {
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			secured := Kafka(t, kfake.EnableSASL(), kfake.Superuser(mech, "alice", "s3cr3tPW"))
			t.Setenv(envKafkaBrokers, strings.Join(secured.Brokers, ","))
			t.Setenv(envKafkaSASLMechanism, strings.ToLower(mech))
			t.Setenv(envKafkaSASLUser, "alice")
			t.Setenv(envKafkaSASLPassword, "s3cr3tPW")
			c := Kafka(t)
			assert.False(t, c.Owned)
			cl, err := kgo.NewClient(c.ClientOpts()...)
			require.NoError(t, err)
			defer cl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			require.NoError(t, cl.Ping(ctx), "the SASL settings reach the cluster")

			t.Setenv(envKafkaSASLPassword, "wr0ngPW99")
			began := time.Now()
			rec := record(t, func(tb testing.TB) { Kafka(tb) })
			assert.True(t, rec.failed, "a wrong password fails the test")
			assert.NotContains(t, rec.msg, "wr0ngPW99")
			assert.Contains(t, rec.msg, envKafkaBrokers)
			assert.Less(t, time.Since(began), 7*time.Second)
		})
	}
	t.Setenv(envKafkaBrokers, "127.0.0.1:1")
	t.Setenv(envKafkaSASLUser, "alice")
	t.Setenv(envKafkaSASLMechanism, "GSSAPI")
	rec := record(t, func(tb testing.TB) { Kafka(tb) })
	assert.True(t, rec.failed)
	assert.Contains(t, rec.msg, "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
}
