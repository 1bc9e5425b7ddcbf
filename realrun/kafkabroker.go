package realrun

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/idemsim/idemsim/internal/tcpproxy"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

// kafkaBroker is Kafka behind the seam (Broker), through franz-go: the run
// produces to its own topic, keyed by account as the simulator's log is
// (account k goes to partition k % P, the log's 1+k%P numbered from 1),
// and each consumer incarnation is a member of the run's consumer group
// (a kgo client of its own, through a proxy of its own), that polls
// batches, hands the records out one by one, and commits what it handled
// with CommitOffsetsSync after the batch (or after each record).
//
// It knows only what a client knows: a commit answered is accepted or
// fenced, one with no answer in time is unknown. The group's committed
// offsets say what is done, read at the end (Final) and, once everything
// is published, every settlePoll (a commit whose reply was lost may have
// settled the last records).
//
// The group follows the log model's protocol: the classic (eager)
// protocol with the range assignor, rebalances only between polls
// (BlockRebalanceOnPoll: a member rejoins when it polls again, having
// handled and committed its batch, as the Java client does), the
// session and rebalance timeouts the log's, scaled to the run's clock.
// kgo has no max-poll interval (a Java client property): each conn
// watches its own, and a member that held a batch past it leaves the
// group (a LeaveGroup of its member id, on its own connection), so that
// its later commits are fenced and its next poll joins as a new member.
type kafkaBroker struct {
	r       *session
	srv     *kafkaServer
	proxies []*proxySet
	rAck    *rand.Rand // the redeliver fault's lost commit replies

	brokerRun // its lock, the run's stop and leaves, AllDone
	msgs      []kafkaMessage
	at        map[[2]int64]int           // (partition, offset) to message
	committed map[int32]int64            // per partition, the last commit accepted, as the run saw it
	commits   map[int32][]acceptedCommit // per partition, every commit accepted, in order
	unknown   map[int32]unknownCommit
	published int
	accepted  int

	// ready is closed once the group first stands with every consumer
	// that starts with the run (or after initialDelay): kfake has no
	// initial rebalance delay (group.initial.rebalance.delay.ms, 3 s
	// by default on Kafka), so the first member to join would take
	// every partition and lose them again as the others join. The
	// consumers hold their first poll until then, as a real cluster's
	// delay holds the first rebalance, and as the simulator's log
	// starts: one rebalance, every member in it.
	ready     chan struct{}
	readyOnce sync.Once
}

// initialDelay bounds the wait for the group's first members: Kafka's
// default group.initial.rebalance.delay.ms.
const initialDelay = 3 * time.Second

// awaitGroup holds an initial member's first poll until the group stands
// with every consumer that starts with the run.
func (b *kafkaBroker) awaitGroup(ctx context.Context) {
	b.readyOnce.Do(func() {
		want := 0
		for _, c := range b.r.consumers {
			if c.lateStart == 0 {
				want++
			}
		}
		go func() {
			defer close(b.ready)
			deadline := time.Now().Add(initialDelay)
			for time.Now().Before(deadline) && b.r.ctx.Err() == nil {
				dctx, cancel := context.WithTimeout(b.r.ctx, pingTimeout)
				dg, err := b.srv.adm.DescribeGroups(dctx, b.srv.group)
				cancel()
				if g, ok := dg[b.srv.group]; err == nil && ok && g.Err == nil && g.State == "Stable" && len(g.Members) >= want {
					return
				}
				sleepCtx(b.r.ctx, 20*time.Millisecond)
			}
		}()
	})
	select {
	case <-b.ready:
	case <-ctx.Done():
	}
}

// kafkaMessage is what the client knows of one message.
type kafkaMessage struct {
	event    strategies.EventID
	part     int32 // its partition, from 0
	off      int64 // its offset; -1 until produced
	accepted bool  // a commit accepted covered it
}

// acceptedCommit is a commit the broker accepted: by inst, sent at sent,
// moving its partition's offset to next.
type acceptedCommit struct {
	inst int
	sent time.Duration
	next int64
}

// unknownCommit is the first commit of a partition with no answer, or
// whose answer the redeliver fault lost: it may have taken effect.
type unknownCommit struct {
	inst int
	sent time.Duration
}

var (
	_ Broker  = (*kafkaBroker)(nil)
	_ proxied = (*kafkaBroker)(nil)
)

func newKafkaBroker(r *session, events []strategies.EventID) (*kafkaBroker, error) {
	k := r.srv.kafka
	b := &kafkaBroker{r: r, srv: k,
		ready: make(chan struct{}), rAck: rand.New(rand.NewPCG(r.cfg.Seed, run.StreamAckLoss)),
		at: map[[2]int64]int{}, committed: map[int32]int64{}, commits: map[int32][]acceptedCommit{}, unknown: map[int32]unknownCommit{}}
	b.brokerRun.init(r.cfg.Instances)
	for _, e := range events {
		// Keyed by account, as the log: account k in partition k % P.
		acct := r.wl.Events[e].Account
		b.msgs = append(b.msgs, kafkaMessage{event: e, part: int32(acct % k.parts), off: -1})
	}
	proxies := r.cfg.Instances
	if publishes(r.cfg) {
		proxies++ // the outbox's relay's, numbered after the consumers
	}
	for i := 0; i < proxies; i++ {
		b.proxies = append(b.proxies, &proxySet{byTarget: map[string]*tcpproxy.Proxy{}})
	}
	go b.pollSettled()
	return b, nil
}

func (b *kafkaBroker) proxy(consumer int) brokerLink { return b.proxies[consumer] }

func (b *kafkaBroker) closeProxies() {
	for _, p := range b.proxies {
		p.close()
	}
}

// Publish produces message m, its number as the value and its account as
// the key, to the account's partition, and waits for the broker's ack.
// Each copy of an event is a record of its own (the redeliver fault's
// producer duplicates: a new offset in the same partition).
func (b *kafkaBroker) Publish(ctx context.Context, m int) error {
	b.mu.Lock()
	msg := b.msgs[m]
	b.mu.Unlock()
	acct := b.r.wl.Events[msg.event].Account
	pctx, cancel := context.WithTimeout(ctx, publishTimeout)
	res := b.srv.cl.ProduceSync(pctx, &kgo.Record{Topic: b.srv.topic, Partition: msg.part,
		Key: []byte(strconv.Itoa(acct)), Value: []byte(strconv.Itoa(m))})
	cancel()
	rec, err := res.First()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		e := b.srv.err(ErrServerFailed, fmt.Sprintf("producing message %d of %d to the topic %s", m+1, len(b.msgs), b.srv.topic), err).(*ServerError)
		e.Hint = stoppedHint(err)
		return e
	}
	pr := b.r.publishRecord(m, msg.event)
	pr.Part, pr.Count = rec.Partition+1, int32(rec.Offset)
	b.r.rec.add(pr)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.msgs[m].off = rec.Offset
	b.at[[2]int64{int64(rec.Partition), rec.Offset}] = m
	b.published++
	// A consumer may read, handle and commit the record before the
	// produce's answer comes back: a commit accepted already that
	// passed it settled it.
	for _, ac := range b.commits[rec.Partition] {
		if ac.next > rec.Offset {
			b.acceptLocked(m, ac.inst, ac.sent)
			break
		}
	}
	return nil
}

func (b *kafkaBroker) Attach(_ context.Context, consumer int) (Conn, error) {
	return &kafkaConn{b: b, consumer: consumer}, nil
}

func (b *kafkaBroker) Progress() (settled, total int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.accepted, len(b.msgs)
}

func (b *kafkaBroker) isStopped() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stopped
}

func (b *kafkaBroker) isLeaving(consumer int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.leaving[consumer]
}

// commitAccepted notes that consumer's commit of partition p at next was
// accepted: as on the broker, the partition's committed offset becomes
// next, back too, and each record it newly covers is done, its ack in the
// history sent at sent.
func (b *kafkaBroker) commitAccepted(consumer int, p int32, next int64, sent time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	old := b.committed[p]
	b.committed[p] = next
	b.commits[p] = append(b.commits[p], acceptedCommit{inst: consumer, sent: sent, next: next})
	for off := old; off < next; off++ {
		if m, ok := b.at[[2]int64{int64(p), off}]; ok {
			b.acceptLocked(m, consumer, sent)
		}
	}
}

// acceptLocked settles message m, by consumer's commit sent at sent, if
// no commit settled it before. The caller holds mu.
func (b *kafkaBroker) acceptLocked(m, consumer int, sent time.Duration) {
	if b.msgs[m].accepted {
		return
	}
	b.msgs[m].accepted = true
	b.accepted++
	b.r.rec.ack(consumer, b.msgs[m].event, sent)
	if b.accepted == len(b.msgs) {
		b.finishLocked()
	}
}

// commitUnknown notes a commit of p with no answer: the first such is
// what resolves the records the group's offset covers at the end.
func (b *kafkaBroker) commitUnknown(consumer int, p int32, sent time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.unknown[p]; !ok {
		b.unknown[p] = unknownCommit{inst: consumer, sent: sent}
	}
}

func (b *kafkaBroker) finishLocked() {
	b.settledLocked()
}

// covered reports, per message, whether the group's committed offsets
// cover it. The caller holds mu.
func (b *kafkaBroker) coveredLocked(offs map[int32]int64) []bool {
	out := make([]bool, len(b.msgs))
	for m, msg := range b.msgs {
		out[m] = msg.off >= 0 && msg.off < offs[msg.part]
	}
	return out
}

// pollSettled asks the group's committed offsets, every settlePoll once
// everything is published, whether they cover every message: a commit
// whose reply was lost, or a seek's commit, may have settled the last
// records, which no accepted commit would then tell. Its errors are the
// health watch's to judge.
func (b *kafkaBroker) pollSettled() {
	t := time.NewTicker(settlePoll)
	defer t.Stop()
	for {
		select {
		case <-b.halted:
			return
		case <-b.r.ctx.Done():
			return
		case <-t.C:
		}
		b.mu.Lock()
		all := b.published == len(b.msgs)
		b.mu.Unlock()
		if !all {
			continue
		}
		offs, err := b.srv.committed(b.r.ctx)
		if err != nil {
			continue
		}
		b.mu.Lock()
		if !slices.Contains(b.coveredLocked(offs), false) {
			b.finishLocked()
		}
		done := b.done
		b.mu.Unlock()
		if done {
			return
		}
	}
}

// Final reads the group's committed offsets: a copy is settled when the
// offset of its partition passed it. A copy covered there that no
// accepted commit of the run covered was settled by a commit whose answer
// never came: its ack goes into the history now, as an operation from that
// commit's sending to now. One no commit of the run can explain (none
// unanswered in its partition) is not counted done.
func (b *kafkaBroker) Final(ctx context.Context, events int) (done, settled []bool, err error) {
	offs, err := b.srv.committed(ctx)
	if err != nil {
		return nil, nil, b.srv.err(ErrServerFailed, "reading the consumer group "+b.srv.group+"'s committed offsets at the end of the run", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	cov := b.coveredLocked(offs)
	done = make([]bool, events+1)
	settled = make([]bool, events+1)
	for i := 1; i <= events; i++ {
		settled[i] = true
	}
	for m := range b.msgs {
		msg := &b.msgs[m]
		ok := cov[m]
		if ok && !msg.accepted {
			u, has := b.unknown[msg.part]
			if has {
				b.r.rec.ack(u.inst, msg.event, u.sent)
			} else {
				ok = false
			}
		}
		if ok {
			done[msg.event] = true
		} else {
			settled[msg.event] = false
		}
	}
	return done, settled, nil
}

// kafkaConn is one incarnation's member of the group: a kgo client made
// at its first poll (a restart during a partition joins once it heals).
type kafkaConn struct {
	b        *kafkaBroker
	consumer int
	seeker   strategies.Seeker

	crashed atomic.Bool
	left    atomic.Bool // it left the group (max-poll): its next poll joins anew

	mu       sync.Mutex
	cl       *kgo.Client
	links    []net.Conn // the client's connections, cut by a crash
	batch    []*kgo.Record
	inHand   map[delivery]*kgo.Record
	handled  map[int32]int64 // per partition, the next offset past what it handled since its last commit
	retry    *delivery
	retryAt  time.Time
	assigned []int32 // partitions assigned and not yet sought (a Seeker's)
	gen      int32   // the generation of its last assignment
	holding  bool    // it holds a batch: its max-poll interval runs
	polledAt time.Time
	stopWD   chan struct{}
}

// setSeeker gives the conn its incarnation's strategy, when it seeks on
// assignment (strategies.Seeker).
func (c *kafkaConn) setSeeker(s strategies.Seeker) { c.seeker = s }

// position is the partition (from 1, as the log numbers them) and offset
// of d, for the strategy's event.
func (c *kafkaConn) position(d delivery) (int, int64) {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	m := c.b.msgs[d.msg]
	return int(m.part) + 1, m.off
}

// commitDue says whether the ack of d commits: after the last record of
// its batch, after each record (--commit record), or before a leave.
func (c *kafkaConn) commitDue(delivery) bool {
	if c.b.srv.perRec || c.b.isLeaving(c.consumer) {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.batch) == 0
}

// open makes the client, if not made yet.
func (c *kafkaConn) open() (*kgo.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cl != nil {
		return c.cl, nil
	}
	if c.crashed.Load() {
		return nil, errCrashed
	}
	b, k := c.b, c.b.srv
	ps := b.proxies[c.consumer]
	opts := []kgo.Opt{
		kgo.SeedBrokers(k.seeds...),
		kgo.ClientID("idemsim-" + instanceName(b.r.host, c.consumer)),
		kgo.DialTimeout(time.Second),
		kgo.RetryTimeout(b.r.cfg.Timing.CallTimeout * 4),
		kgo.Dialer(func(ctx context.Context, network, host string) (net.Conn, error) {
			if c.crashed.Load() {
				return nil, errCrashed
			}
			addr, err := ps.addr(host)
			if err != nil {
				return nil, err
			}
			conn, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			c.mu.Lock()
			c.links = append(c.links, conn)
			c.mu.Unlock()
			// Through the proxy, TLS still names the broker.
			return secure(ctx, k.tls, conn, host)
		}),
		kgo.ConsumerGroup(k.group),
		kgo.ConsumeTopics(k.topic),
		kgo.DisableAutoCommit(),
		kgo.Balancers(kgo.RangeBalancer()),
		kgo.BlockRebalanceOnPoll(),
		kgo.SessionTimeout(k.session),
		kgo.RebalanceTimeout(k.maxPoll),
		kgo.HeartbeatInterval(max(k.session/4, 10*time.Millisecond)),
		kgo.FetchMaxWait(fetchWait),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.OnPartitionsAssigned(func(_ context.Context, cl *kgo.Client, a map[string][]int32) {
			c.onAssigned(cl, a[k.topic])
		}),
		kgo.OnPartitionsRevoked(func(context.Context, *kgo.Client, map[string][]int32) { c.onRevoked() }),
		kgo.OnPartitionsLost(func(context.Context, *kgo.Client, map[string][]int32) { c.onRevoked() }),
	}
	cl, err := kgo.NewClient(k.withSASL(opts)...)
	if err != nil {
		return nil, err
	}
	c.cl, c.inHand, c.handled = cl, map[delivery]*kgo.Record{}, map[int32]int64{}
	c.left.Store(false)
	c.stopWD = make(chan struct{})
	go c.watchPoll(cl, c.stopWD)
	b.r.rec.add(run.Record{Kind: run.Join, Inst: int32(c.consumer)})
	return cl, nil
}

// onAssigned records what the client sees of an assignment, and keeps the
// partitions for the Seeker to seek before it hands out their records.
func (c *kafkaConn) onAssigned(cl *kgo.Client, parts []int32) {
	_, gen := cl.GroupMetadata()
	var key []string
	for _, p := range parts {
		key = append(key, strconv.Itoa(int(p)+1))
	}
	slices.Sort(key)
	c.b.r.rec.add(run.Record{Kind: run.Assign, Inst: int32(c.consumer), Tag: uint32(max(gen, 0)), Key: strings.Join(key, ",")})
	c.mu.Lock()
	c.gen = gen
	if c.seeker != nil {
		c.assigned = append(c.assigned, parts...)
	}
	c.mu.Unlock()
}

// onRevoked: the eager protocol takes every partition away at a
// rebalance; the records polled and not handed out are given up (they
// stay uncommitted, for the next owner).
func (c *kafkaConn) onRevoked() {
	c.mu.Lock()
	c.batch, c.assigned = nil, nil
	c.mu.Unlock()
}

// watchPoll is the max-poll interval kgo lacks: a member that has held a
// batch longer than it leaves the group, as the Java client's heartbeat
// thread does.
func (c *kafkaConn) watchPoll(cl *kgo.Client, stop chan struct{}) {
	k := c.b.srv
	t := time.NewTicker(max(k.maxPoll/8, 5*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-c.b.halted:
			return
		case <-t.C:
		}
		c.mu.Lock()
		lapsed := c.holding && time.Since(c.polledAt) > k.maxPoll && c.cl == cl
		c.mu.Unlock()
		if !lapsed || c.left.Load() || c.crashed.Load() {
			continue
		}
		c.left.Store(true)
		member, gen := cl.GroupMetadata()
		c.b.r.rec.add(run.Record{Kind: run.Leave, Inst: int32(c.consumer), Tag: uint32(max(gen, 0)), Cause: run.MaxPollPassed})
		req := kmsg.NewPtrLeaveGroupRequest()
		req.Group = k.group
		req.MemberID = member
		mi := kmsg.NewLeaveGroupRequestMember()
		mi.MemberID = member
		req.Members = []kmsg.LeaveGroupRequestMember{mi}
		ctx, cancel := context.WithTimeout(c.b.r.ctx, c.b.r.cfg.Timing.CallTimeout*4)
		_, _ = req.RequestWith(ctx, cl)
		cancel()
	}
}

// Receive hands out the next record of the batch in hand, or polls for a
// batch: it allows the rebalance its last poll held off, then polls up to
// the batch size, waiting at most fetchWait.
func (c *kafkaConn) Receive(ctx context.Context) (delivery, strategies.EventID, received) {
	b := c.b
	for {
		if b.isStopped() || ctx.Err() != nil {
			return delivery{}, 0, gotStop
		}
		if b.isLeaving(c.consumer) {
			return delivery{}, 0, gotLeave
		}
		c.mu.Lock()
		if c.retry != nil {
			d, at := *c.retry, c.retryAt
			c.retry = nil
			c.mu.Unlock()
			sleepCtx(ctx, time.Until(at))
			return d, b.msgs[d.msg].event, gotDelivery
		}
		if len(c.batch) > 0 {
			rec := c.batch[0]
			c.batch = c.batch[1:]
			d, ev, ok := c.deliveryOf(rec)
			if ok {
				c.inHand[d] = rec
			}
			c.mu.Unlock()
			if !ok {
				b.r.fail(b.srv.err(ErrServerFailed, "polling records: a record idemsim did not produce is in the run's topic "+b.srv.topic, fmt.Errorf("value %.40q at partition %d offset %d", rec.Value, rec.Partition, rec.Offset)))
				return delivery{}, 0, gotStop
			}
			return d, ev, gotDelivery
		}
		c.mu.Unlock()
		if c.left.Load() {
			// It left the group (max-poll): its next poll joins as a
			// new member, with a new client.
			c.drop(false)
		}
		cl, err := c.open()
		if err != nil {
			sleepCtx(ctx, fetchWait/4)
			continue
		}
		b.awaitGroup(ctx)
		c.mu.Lock()
		c.holding = false
		c.mu.Unlock()
		cl.AllowRebalance()
		pctx, cancel := context.WithTimeout(ctx, fetchWait)
		fs := cl.PollRecords(pctx, c.b.srv.batch)
		cancel()
		c.mu.Lock()
		c.polledAt = time.Now()
		c.mu.Unlock()
		var gone, refused error
		fs.EachError(func(_ string, _ int32, err error) {
			switch {
			case errors.Is(err, kerr.UnknownTopicOrPartition) || errors.Is(err, kerr.UnknownTopicID):
				gone = err
			case errors.Is(err, kerr.InvalidSessionTimeout) || errors.Is(err, kerr.GroupAuthorizationFailed) ||
				errors.Is(err, kerr.TopicAuthorizationFailed) || errors.Is(err, kerr.GroupMaxSizeReached):
				refused = err
			}
		})
		if ctx.Err() == nil && !b.isStopped() {
			switch {
			case gone != nil:
				b.r.fail(b.srv.err(ErrServerFailed, fmt.Sprintf("polling records for consumer %d: the run's topic is gone (deleted by someone else?)", c.consumer), gone))
				return delivery{}, 0, gotStop
			case refused != nil:
				// The broker will not have the member: no run can go
				// on, and waiting would only end in a false verdict.
				e := b.srv.err(ErrServerFailed, fmt.Sprintf("joining the consumer group %s for consumer %d", b.srv.group, c.consumer), refused).(*ServerError)
				if errors.Is(refused, kerr.InvalidSessionTimeout) {
					e.Hint = fmt.Sprintf("the run's session timeout is %v (the log's 3 s, scaled to the run's clock), below the broker's group.min.session.timeout.ms (6 s by default): lower that setting on the broker, or run on franz-go's in-process cluster with --kafka-brokers %s", b.srv.session, KafkaInProcess)
				}
				b.r.fail(e)
				return delivery{}, 0, gotStop
			}
		}
		recs := fs.Records()
		recs = c.seek(ctx, cl, recs)
		if len(recs) == 0 {
			continue
		}
		c.mu.Lock()
		c.batch = append(c.batch, recs...)
		c.holding = true
		gen := c.gen
		c.mu.Unlock()
		for _, rec := range recs {
			if m, ok := c.msgAt(rec); ok {
				dr := msgRecord(run.Deliver, c.consumer, m, b.msgs[m].event)
				dr.Tag, dr.Part, dr.Count = uint32(max(gen, 0)), rec.Partition+1, int32(rec.Offset)
				b.r.rec.add(dr)
			}
		}
	}
}

// msgAt is the message of a record idemsim produced.
func (c *kafkaConn) msgAt(rec *kgo.Record) (int, bool) {
	m, err := strconv.Atoi(string(rec.Value))
	if err != nil || m < 0 || m >= len(c.b.msgs) || rec.Topic != c.b.srv.topic {
		return 0, false
	}
	return m, true
}

// deliveryOf is the delivery of rec (its tag the generation it was
// polled in). The caller holds c.mu.
func (c *kafkaConn) deliveryOf(rec *kgo.Record) (delivery, strategies.EventID, bool) {
	m, ok := c.msgAt(rec)
	if !ok {
		return delivery{}, 0, false
	}
	return delivery{msg: m, tag: uint32(max(c.gen, 0))}, c.b.msgs[m].event, true
}

// seek: a Seeker's consumer, newly assigned partitions, reads where each
// should start from its own store, and moves its position there (from
// the polling goroutine, before the rebalance is allowed again, as kgo
// asks). The records polled of a partition it moved are dropped: they
// were read from the group's offset. It then commits the position it
// sought to when the group's is behind (without waiting for the reply,
// as the simulator's consumer does), so that the group's offset agrees
// with the store's.
func (c *kafkaConn) seek(ctx context.Context, cl *kgo.Client, recs []*kgo.Record) []*kgo.Record {
	c.mu.Lock()
	parts := c.assigned
	c.assigned = nil
	gen := c.gen
	c.mu.Unlock()
	if c.seeker == nil || len(parts) == 0 {
		return recs
	}
	b, k := c.b, c.b.srv
	moved := map[int32]bool{}
	set := map[int32]kgo.EpochOffset{}
	committed := cl.CommittedOffsets()[k.topic]
	for _, p := range parts {
		next, ok, err := c.seeker.Seek(ctx, int(p)+1)
		if c.crashed.Load() {
			return nil
		}
		if err != nil || !ok {
			continue
		}
		moved[p] = true
		set[p] = kgo.EpochOffset{Epoch: -1, Offset: next}
		b.r.rec.add(run.Record{Kind: run.Seek, Inst: int32(c.consumer), Tag: uint32(max(gen, 0)), Part: p + 1, Count: int32(next)})
	}
	if len(set) == 0 {
		return recs
	}
	cl.SetOffsets(map[string]map[int32]kgo.EpochOffset{k.topic: set})
	commit := map[int32]kgo.EpochOffset{}
	for p, eo := range set {
		if eo.Offset > committed[p].Offset {
			commit[p] = eo
		}
	}
	if len(commit) > 0 {
		sent := b.r.rec.now()
		for p, eo := range commit {
			if m, ok := b.msgAtOffset(p, eo.Offset-1); ok {
				ar := msgRecord(run.AckSend, c.consumer, m, b.msgs[m].event)
				ar.Tag = uint32(max(gen, 0))
				b.r.rec.add(ar)
			}
		}
		cl.CommitOffsets(ctx, map[string]map[int32]kgo.EpochOffset{k.topic: commit},
			func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
				c.commitDone(commit, resp, err, sent, uint32(max(gen, 0)))
			})
	}
	kept := recs[:0]
	for _, rec := range recs {
		if !moved[rec.Partition] {
			kept = append(kept, rec)
		}
	}
	return kept
}

func (b *kafkaBroker) msgAtOffset(p int32, off int64) (int, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	m, ok := b.at[[2]int64{int64(p), off}]
	return m, ok
}

// Ack notes that d was handled, and commits when a commit is due (see
// commitDue): the next offset of each partition it handled since its last
// commit, with CommitOffsetsSync and the run's call deadline. A fenced
// commit (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, REBALANCE_IN_PROGRESS) is
// refused, one with no answer in time is unknown. The redeliver fault
// loses the commit's reply: the commit goes out and takes effect, and
// the client, as one whose reply was lost, waits out the deadline and
// knows nothing.
func (c *kafkaConn) Ack(ctx context.Context, d delivery, sent time.Duration) AckOutcome {
	b, r := c.b, c.b.r
	c.mu.Lock()
	rec := c.inHand[d]
	delete(c.inHand, d)
	if rec != nil {
		c.handled[rec.Partition] = max(c.handled[rec.Partition], rec.Offset+1)
	}
	cl := c.cl
	due := c.b.srv.perRec || len(c.batch) == 0
	c.mu.Unlock()
	if !due && !b.isLeaving(c.consumer) {
		return AckAccepted // nothing sent yet: the batch's commit covers it
	}
	c.mu.Lock()
	offs := map[int32]kgo.EpochOffset{}
	for p, next := range c.handled {
		offs[p] = kgo.EpochOffset{Epoch: -1, Offset: next}
	}
	c.handled = map[int32]int64{}
	gen := uint32(max(c.gen, 0))
	c.mu.Unlock()
	ev := b.msgs[d.msg].event
	ar := d.record(run.AckSend, c.consumer, ev)
	ar.Tag = gen
	r.rec.add(ar)
	if cl == nil || len(offs) == 0 {
		lr := ar
		lr.Kind = run.AckLost
		r.rec.add(lr)
		return AckNotSent
	}
	b.mu.Lock()
	lose := r.faultsOn() && b.rAck.Float64() < r.params.AckLoss
	b.mu.Unlock()
	actx, cancel := context.WithTimeout(ctx, r.cfg.Timing.CallTimeout)
	defer cancel()
	if lose {
		r.rec.lostAck()
		lr := ar
		lr.Kind, lr.Cause = run.AckLost, run.ReplyLost
		r.rec.add(lr)
		for p := range offs {
			b.commitUnknown(c.consumer, p, sent)
		}
		// The commit itself has time to land (its own deadline, not
		// the call's): only its reply is lost to the consumer.
		cctx, ccancel := context.WithTimeout(ctx, publishTimeout)
		cl.CommitOffsets(cctx, map[string]map[int32]kgo.EpochOffset{b.srv.topic: offs},
			func(*kgo.Client, *kmsg.OffsetCommitRequest, *kmsg.OffsetCommitResponse, error) { ccancel() })
		<-actx.Done()
		return AckUnknown
	}
	out := AckUnknown
	cl.CommitOffsetsSync(actx, map[string]map[int32]kgo.EpochOffset{b.srv.topic: offs},
		func(_ *kgo.Client, req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			out = c.commitDone(offs, resp, err, sent, gen)
			if err != nil && req.Group == "" {
				out = AckNotSent // it never left: the client was joining
			}
		})
	if out == AckUnknown || out == AckNotSent {
		kind := run.AckUnknown
		if out == AckNotSent {
			kind = run.AckLost
		} else {
			for p := range offs {
				b.commitUnknown(c.consumer, p, sent)
			}
		}
		ur := ar
		ur.Kind = kind
		r.rec.add(ur)
	}
	return out
}

// commitDone judges a commit's answer, records it, and settles what an
// accepted commit covers.
func (c *kafkaConn) commitDone(offs map[int32]kgo.EpochOffset, resp *kmsg.OffsetCommitResponse, err error, sent time.Duration, gen uint32) AckOutcome {
	b := c.b
	if err != nil || resp == nil {
		return AckUnknown
	}
	out := AckAccepted
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			next := offs[p.Partition].Offset
			m, _ := b.msgAtOffset(p.Partition, next-1)
			rec := msgRecord(run.Committed, c.consumer, m, b.msgs[m].event)
			rec.Tag, rec.Part, rec.Count = gen, p.Partition+1, int32(next)
			switch perr := kerr.ErrorForCode(p.ErrorCode); {
			case perr == nil:
				b.r.rec.add(rec)
				b.commitAccepted(c.consumer, p.Partition, next, sent)
			case errors.Is(perr, kerr.UnknownMemberID) || errors.Is(perr, kerr.FencedInstanceID):
				rec.Kind, rec.Cause = run.Fenced, run.UnknownMember
				b.r.rec.add(rec)
				out = AckRefused
			case errors.Is(perr, kerr.IllegalGeneration) || errors.Is(perr, kerr.RebalanceInProgress) || errors.Is(perr, kerr.StaleMemberEpoch):
				rec.Kind, rec.Cause = run.Fenced, run.StaleGeneration
				b.r.rec.add(rec)
				out = AckRefused
			default:
				if out == AckAccepted {
					out = AckUnknown
				}
			}
		}
	}
	return out
}

// Nack: the log's consumer retries a failed record in place, after the
// run's retry delay; nothing goes to the broker.
func (c *kafkaConn) Nack(_ context.Context, d delivery) {
	c.mu.Lock()
	c.retry, c.retryAt = &d, time.Now().Add(c.b.r.cfg.Timing.NackRetry)
	c.mu.Unlock()
}

// Crash cuts the client's connections and closes it with no LeaveGroup
// able to leave (its dialer refuses from now on): the coordinator hears
// nothing more and evicts the member after the session timeout, as for a
// process that died.
func (c *kafkaConn) Crash() {
	c.crashed.Store(true)
	c.drop(true)
}

// Close leaves the group gracefully (a LeaveGroup, within the call
// deadline: cut off from the broker, it is lost, and the session timeout
// decides) and closes the client.
func (c *kafkaConn) Close() { c.drop(false) }

// drop closes the client: abruptly (its connections cut first), or
// gracefully. A client's Close waits for its group's leave, bounded
// here: the run goes on without it.
func (c *kafkaConn) drop(abrupt bool) {
	c.mu.Lock()
	cl, links, stop := c.cl, c.links, c.stopWD
	c.cl, c.links, c.batch, c.inHand, c.assigned, c.holding = nil, nil, nil, nil, nil, false
	c.retry = nil
	c.mu.Unlock()
	if stop != nil {
		close(stop)
	}
	if cl == nil {
		return
	}
	if abrupt {
		// Nothing more reaches the broker (the dialer refuses): the
		// client winds down on its own, and nobody waits for it.
		for _, l := range links {
			_ = l.Close()
		}
		go cl.CloseAllowingRebalance()
		return
	}
	// A graceful leave: LeaveGroup within the call deadline (lost if
	// cut off, as the simulator's), then the client closes; a client
	// that hangs is left behind after closeTimeout.
	closed := make(chan struct{})
	go func() {
		cl.AllowRebalance()
		if !c.left.Load() {
			ctx, cancel := context.WithTimeout(context.Background(), 4*c.b.r.cfg.Timing.CallTimeout)
			_ = cl.LeaveGroupContext(ctx)
			cancel()
		}
		cl.CloseAllowingRebalance()
		close(closed)
	}()
	wait := closeTimeout
	if c.b.r.ctx.Err() != nil {
		wait = 0 // the run failed: nobody waits for a goodbye
	}
	left := c.left.Load() // it left already, when its max-poll interval passed
	select {
	case <-closed:
	case <-time.After(wait):
	}
	if !left {
		c.b.r.rec.add(run.Record{Kind: run.Leave, Inst: int32(c.consumer), Cause: run.Graceful})
	}
}

// brokerLink is what a consumer cuts when a partition cuts it off from
// its broker: one proxy (NATS), or a set of them (Kafka: one per broker
// of the cluster the client reaches).
type brokerLink interface {
	Cut()
	Heal()
	Cutting() bool
	CloseConns()
}

// proxySet is a consumer's proxies to a Kafka cluster: one per broker
// address its client dials, started on first use, all cut and healed
// together.
type proxySet struct {
	mu       sync.Mutex
	cut      bool
	byTarget map[string]*tcpproxy.Proxy
}

// addr is the proxy's address for target, started if new (cut if the set
// is).
func (s *proxySet) addr(target string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.byTarget[target]; ok {
		return p.Addr(), nil
	}
	p, err := tcpproxy.Start(target)
	if err != nil {
		return "", err
	}
	if s.cut {
		p.Cut()
	}
	s.byTarget[target] = p
	return p.Addr(), nil
}

func (s *proxySet) each(f func(*tcpproxy.Proxy)) {
	for _, p := range s.byTarget {
		f(p)
	}
}

func (s *proxySet) Cut() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cut = true
	s.each((*tcpproxy.Proxy).Cut)
}

func (s *proxySet) Heal() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cut = false
	s.each((*tcpproxy.Proxy).Heal)
}

func (s *proxySet) Cutting() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cut
}

func (s *proxySet) CloseConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.each((*tcpproxy.Proxy).CloseConns)
}

func (s *proxySet) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.each(func(p *tcpproxy.Proxy) { _ = p.Close() })
}
