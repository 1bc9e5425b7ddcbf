package realrun

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// kafkaMinSessionKey is the broker setting below which Kafka refuses a
// member's session timeout (INVALID_SESSION_TIMEOUT): 6 s by default.
const kafkaMinSessionKey = "group.min.session.timeout.ms"

// A real run's clock is the simulator's shrunk (kafkaScale): the log's 3 s
// session timeout becomes 240 ms, far below a real broker's minimum. So a
// run on a cluster of the user's reads that minimum first and, when the
// run's session timeout is below it, stretches the run's whole clock until
// it fits: the session timeout, the max-poll interval, the faults that last
// a multiple of them (zombie pauses, slow stalls), partitions, restarts,
// and the publishing pace too, so that every duration keeps its ratio to
// the others, as in the simulator, and the run plays the same schedule,
// slower. Raising the session timeout alone would make a zombie or a
// partition too short to be noticed: the run would agree with the
// simulator less, silently. The run says what it stretched; it takes that
// much longer. A cluster that does not say its minimum (no permission to
// describe its brokers) gets the run's timeout as it is, and a broker that
// refuses it ends the run naming the setting (kafkaConn.Receive).

// stretchFor is by how much a run's clock must stretch so that its session
// timeout, session, reaches the brokers' minimum, floor: 1 when it already
// does.
func stretchFor(session, floor time.Duration) float64 {
	if session <= 0 || session >= floor {
		return 1
	}
	return float64(floor) / float64(session)
}

// stretched returns t with every duration f times longer, but Liveness:
// the bound on settling after the faults heal is a wait for a stuck run,
// not a moment of the workload; the caller raises it to what the
// stretched group needs.
func (t Timing) stretched(f float64) Timing {
	s := func(d *time.Duration) { *d = time.Duration(float64(*d) * f) }
	for _, d := range []*time.Duration{&t.PublishGapMax, &t.AckDeadline, &t.NackRetry, &t.CallTimeout, &t.HealMargin,
		&t.RestartMin, &t.RestartMax, &t.PartitionMin, &t.PartitionMax, &t.MarkTTL, &t.KeyRetention,
		&t.LateMin, &t.LateMax, &t.LeaveDownMin, &t.LeaveDownMax} {
		s(d)
	}
	return t
}

// brokerMinSession reads the largest group.min.session.timeout.ms of the
// cluster's brokers.
func (k *kafkaServer) brokerMinSession(ctx context.Context) (time.Duration, error) {
	sctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	bs, err := k.adm.ListBrokers(sctx)
	if err != nil {
		return 0, err
	}
	// Asked of each broker by id: a request for no broker returns only
	// the cluster's dynamic settings, not server.properties'.
	rcs, err := k.adm.DescribeBrokerConfigs(sctx, bs.NodeIDs()...)
	if err != nil {
		return 0, err
	}
	var floor time.Duration
	found := false
	for _, rc := range rcs {
		if rc.Err != nil {
			return 0, rc.Err
		}
		if ms, ok := effectiveInt(rc.Configs, kafkaMinSessionKey); ok {
			floor, found = max(floor, time.Duration(ms)*time.Millisecond), true
		}
	}
	if !found {
		return 0, fmt.Errorf("no broker reported %s", kafkaMinSessionKey)
	}
	return floor, nil
}

// effectiveInt is the value of the integer setting key among configs: the
// one of the most specific source when it is listed more than once (kfake
// lists its default and then the value set).
func effectiveInt(configs []kadm.Config, key string) (int64, bool) {
	rank := func(s kmsg.ConfigSource) int {
		if s == kmsg.ConfigSourceUnknown {
			return 100
		}
		return int(s)
	}
	var v int64
	best := -1
	for _, c := range configs {
		if c.Key != key || c.Value == nil {
			continue
		}
		n, err := strconv.ParseInt(*c.Value, 10, 64)
		if err != nil || n < 0 {
			continue
		}
		if best < 0 || rank(c.Source) < best {
			v, best = n, rank(c.Source)
		}
	}
	return v, best >= 0
}

// fitSession reads the brokers' minimum session timeout and, when the
// run's is below it, stretches cfg's clock and the group's timeouts to
// fit; k.fitNote says what it did, for the run's first line. The
// in-process cluster takes the run's timeouts as they are.
func (k *kafkaServer) fitSession(ctx context.Context, cfg *Config) {
	if k.fake != nil {
		return
	}
	floor, err := k.brokerMinSession(ctx)
	if err != nil {
		k.fitNote = fmt.Sprintf("could not read the brokers' %s (%v): the session timeout stays %v, which a broker with the default minimum (6 s) refuses", kafkaMinSessionKey, err, k.session)
		return
	}
	f := stretchFor(k.session, floor)
	if f == 1 {
		return
	}
	was := k.session
	cfg.Timing = cfg.Timing.stretched(f)
	k.scaleTimeouts(*cfg)
	// Milliseconds are what the broker compares: never a rounding
	// below its minimum.
	k.session = max(k.session, floor)
	// Every event must settle within a few rebalances after the heal.
	cfg.Timing.Liveness = max(cfg.Timing.Liveness, 4*(k.session+k.maxPoll))
	k.fitNote = stretchNote(floor, was, f)
}

// stretchNote says, for the run's first line, that the run's clock was
// stretched f times because the brokers' minimum session timeout, floor,
// is above the run's, was.
func stretchNote(floor, was time.Duration, f float64) string {
	return fmt.Sprintf("the brokers' %s is %v, above the run's session timeout %v (the log's 3 s on the run's clock): the run's whole clock is stretched %.1f times to fit, the faults' durations with it (zombie pauses, slow stalls, partitions), so the run takes about %.1f times longer; lower %s on the brokers for a faster run",
		kafkaMinSessionKey, floor, was, f, f, kafkaMinSessionKey)
}
