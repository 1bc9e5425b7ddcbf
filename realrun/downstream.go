package realrun

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/idemsim/idemsim/check"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
	"github.com/idemsim/idemsim/strategies/pgstore"
)

// Events sent on, for real: a strategy that publishes
// (strategies.NeedsPublisher) gets a downstream topic on the run's broker,
// a Publisher for its handlers (Deps.Publisher), and, for the outbox, a
// relay of its own (relay.go); one downstream consumer applies what the
// topic carries. As in the simulator (sim/outbox.go):
//
//   - A downstream event carries the upstream event (its number,
//     run.Workload.Number) and the effect it announces: the PostgreSQL
//     transaction that applied it (pgstore.Tx.Effect). A handler's
//     publish announces its attempt's last Apply; the relay's, the outbox
//     row it read.
//   - The downstream consumer is one consumer with no faults: db-unique,
//     keyed by (event, effect), into a table of its own
//     (<prefix>_downstream). So what the checkers find downstream is the
//     upstream strategy's doing.
//   - At the end, an event announcing an effect that no committed ledger
//     row bears is a ghost (pgstore.Ledger.Effects).

// downMsg is a downstream event: the upstream event's number and the
// effect it announces (0: none).
type downMsg struct {
	event  strategies.EventID
	effect int64
}

// encode is the message's body on a broker: "event:effect".
func (m downMsg) encode() []byte {
	return []byte(strconv.FormatUint(uint64(m.event), 10) + ":" + strconv.FormatInt(m.effect, 10))
}

// decodeDownMsg reads a body that encode wrote.
func decodeDownMsg(b []byte) (downMsg, error) {
	ev, fx, ok := strings.Cut(string(b), ":")
	if !ok {
		return downMsg{}, fmt.Errorf("a downstream message %q that idemsim did not write", b)
	}
	e, err1 := strconv.ParseUint(ev, 10, 32)
	f, err2 := strconv.ParseInt(fx, 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return downMsg{}, fmt.Errorf("a downstream message %q that idemsim did not write: %w", b, err)
	}
	return downMsg{event: strategies.EventID(e), effect: f}, nil
}

// downTopic is the run's downstream topic on its broker.
type downTopic interface {
	// client is a publisher's client of the topic, through link, the
	// publisher's own link to the broker (its proxy; a *memoryLink for
	// the in-process one). It connects when it first publishes.
	client(link brokerLink) downClient
	// consume delivers the topic's messages to apply, one at a time, and
	// acks each after it; it returns when the run's context ends or stop
	// is closed.
	consume(apply func(downMsg) error, stop <-chan struct{})
	// drained reports whether every message confirmed so far was
	// applied.
	drained() bool
	// close releases the topic's clients.
	close()
}

// downClient is an incarnation's client of the downstream topic.
type downClient interface {
	// publish sends m and returns once the broker confirmed it. An
	// error may hide a publish that landed.
	publish(ctx context.Context, m downMsg) error
	// close closes its connection, if it has one.
	close()
}

// downstream is the run's downstream: its topic and its consumer's
// record.
type downstream struct {
	r     *session
	topic downTopic

	mu   sync.Mutex
	hist []check.DownOp
	msgs []downMsg // the message of each history operation
}

// apply is the downstream consumer's db-unique: it inserts (event,
// effect) into the downstream table, and records the handling, applied or
// skipped. Its insert has a deadline; a failure is the server's, and ends
// the run.
func (d *downstream) apply(m downMsg) error {
	r := d.r
	ctx, cancel := context.WithTimeout(r.ctx, setupTimeout)
	defer cancel()
	call := r.rec.now()
	fresh, err := r.srv.ledger.InsertDownstream(ctx, m.event, m.effect)
	if err != nil {
		if r.ctx.Err() == nil {
			r.fail(r.srv.pgErr(ErrServerFailed, fmt.Sprintf("applying the downstream event of event %d", m.event), err))
		}
		return err
	}
	ret := r.rec.now()
	kind, answer := check.DownSkipped, run.No
	if fresh {
		kind, answer = check.DownApplied, run.Yes
	}
	rec := run.Record{Kind: run.DownApply, Inst: 0, Event: uint32(m.event), Tx: r.txOf(m.effect), Answer: answer, Stores: run.Downstream}
	r.rec.add(rec)
	d.mu.Lock()
	d.hist = append(d.hist, check.DownOp{Kind: kind, Event: uint64(m.event), Call: int64(call), Return: int64(ret)})
	d.msgs = append(d.msgs, m)
	d.mu.Unlock()
	return nil
}

// tally is the downstream's record for the checkers: each handling and
// each row of the downstream table marked a ghost where no committed
// ledger row bears the effect it announces.
func (d *downstream) tally(ctx context.Context) (*run.DownTally, error) {
	r := d.r
	rctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	effects, err := r.srv.ledger.Effects(rctx)
	if err != nil {
		return nil, r.srv.tableErr(ctx, "reading the ledger's effects at the end of the run", err)
	}
	rows, err := r.srv.ledger.DownstreamRows(rctx)
	if err != nil {
		return nil, r.srv.tableErr(ctx, "reading the downstream table at the end of the run", err)
	}
	committed := make(map[downMsg]bool, len(effects))
	for _, e := range effects {
		committed[downMsg{event: r.number(e.Event), effect: e.Effect}] = true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	t := &run.DownTally{History: d.hist}
	for i := range d.hist {
		d.hist[i].Ghost = !committed[d.msgs[i]]
	}
	for _, row := range rows {
		t.Rows = append(t.Rows, check.DownRow{Event: uint64(row.Event), Ghost: !committed[downMsg{event: row.Event, effect: row.Effect}]})
	}
	return t, nil
}

// settle waits, after the handlers ended, until the relay (if any) found
// the outbox empty and the topic is drained, at most for the run's
// liveness bound, and warns if they did not: what was not sent or applied
// by then counts as lost downstream.
func (d *downstream) settle(relay *relayRunner, since time.Duration) {
	r := d.r
	deadline := time.Now().Add(r.cfg.Timing.Liveness)
	for time.Now().Before(deadline) && r.ctx.Err() == nil {
		if (relay == nil || relay.foundEmptySince(since)) && d.topic.drained() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r.ctx.Err() == nil && r.cfg.Warn != nil {
		r.cfg.Warn(fmt.Sprintf("the downstream did not settle within %v after the last handler ended (the relay still had outbox rows to send, or the downstream consumer messages to apply): what it had not applied counts as lost downstream", r.cfg.Timing.Liveness))
	}
}

// faultyPublisher is a handler's (or the relay's) Publisher: each publish
// is a fault point, through the incarnation's own link to the broker,
// recorded as the simulator records it (run.PublishDown, Tx the effect
// announced), and confirmed by the broker; a publish whose confirm did
// not come has an unknown outcome (strategies.ErrUnknownOutcome).
type faultyPublisher struct {
	inc    *incarnation
	client downClient
}

// newPublisher is the incarnation's publisher, with a client of the
// topic of its own, closed with the incarnation.
func newPublisher(inc *incarnation, topic downTopic) faultyPublisher {
	inc.down = topic.client(inc.c.brokerProxy)
	return faultyPublisher{inc: inc, client: inc.down}
}

func (p faultyPublisher) Publish(ctx context.Context, e strategies.Event) error {
	inc := p.inc
	r := inc.c.r
	if e.ID == 0 || int(e.ID) >= len(r.wl.Events) {
		return fmt.Errorf("%w: a downstream event of event %d, which this run did not publish", strategies.ErrBadValue, e.ID)
	}
	m := downMsg{event: r.number(e), effect: inc.source.Load()}
	_, err := inc.call(ctx, toBroker, run.PublishDown, m.event, r.txOf(m.effect), func(ctx context.Context) (bool, error) {
		return true, p.client.publish(ctx, m)
	})
	if err != nil && !errors.Is(err, errCrashed) && !errors.Is(err, strategies.ErrUnknownOutcome) {
		return fmt.Errorf("the downstream event of event %d: %w: %w", e.ID, strategies.ErrUnknownOutcome, err)
	}
	return err
}

// InsertOutbox is a statement of the transaction, a fault point.
func (t *faultyTx) InsertOutbox(ctx context.Context, e strategies.Event) error {
	otx, ok := t.inner.(strategies.OutboxTx)
	if !ok {
		return strategies.ErrNoOutbox
	}
	_, err := t.inc.call(ctx, toDB, run.InsertOutbox, t.inc.c.r.number(e), t.id, func(ctx context.Context) (bool, error) {
		err := otx.InsertOutbox(ctx, e)
		if err == nil {
			t.outbox = true
		}
		return true, err
	})
	return err
}

// outboxEntries is the ledger's outbox as the relay reads it, with the
// effect each row announces.
type outboxEntries interface {
	NextOutboxEntry(ctx context.Context) (pgstore.OutboxEntry, bool, error)
	MarkSent(ctx context.Context, seq int64) (bool, error)
}

// NextOutbox is a statement of its own, a fault point; the row it found
// is what the relay's next publish announces.
func (l faultyLedger) NextOutbox(ctx context.Context) (strategies.OutboxRow, bool, error) {
	ob, ok := l.inner.(outboxEntries)
	if !ok {
		return strategies.OutboxRow{}, false, strategies.ErrNoOutbox
	}
	var row pgstore.OutboxEntry
	tx := l.inc.c.r.rec.txs.Add(1)
	found, err := l.inc.call(ctx, toDB, run.NextOutbox, 0, tx, func(ctx context.Context) (bool, error) {
		var found bool
		var err error
		row, found, err = ob.NextOutboxEntry(ctx)
		return found, err
	})
	if err != nil || !found {
		return strategies.OutboxRow{}, false, err
	}
	l.inc.source.Store(row.Effect)
	return row.OutboxRow, true, nil
}

// MarkSent is a statement of its own, a fault point.
func (l faultyLedger) MarkSent(ctx context.Context, seq int64) (bool, error) {
	ob, ok := l.inner.(outboxEntries)
	if !ok {
		return false, strategies.ErrNoOutbox
	}
	tx := l.inc.c.r.rec.txs.Add(1)
	return l.inc.call(ctx, toDB, run.MarkSent, 0, tx, func(ctx context.Context) (bool, error) {
		return ob.MarkSent(ctx, seq)
	})
}

// memoryTopic is the in-process broker's downstream topic: a queue in the
// process, confirmed as soon as a publish is in it. It sees no faults of
// its own: a publish is a fault point of its publisher only.
type memoryTopic struct {
	mu     sync.Mutex
	cond   *sync.Cond
	queue  []downMsg
	busy   bool // the consumer is applying a message
	closed bool
}

func newMemoryTopic() *memoryTopic {
	t := &memoryTopic{}
	t.cond = sync.NewCond(&t.mu)
	return t
}

func (t *memoryTopic) client(link brokerLink) downClient {
	l, _ := link.(*memoryLink)
	return memoryClient{topic: t, link: l}
}

// memoryClient publishes to the in-process topic through its link.
type memoryClient struct {
	topic *memoryTopic
	link  *memoryLink
}

// publish puts m in the queue, through the link: a link cut by a
// partition holds it, and the publish waits for its confirm until the
// link heals or the call's deadline passes.
func (c memoryClient) publish(ctx context.Context, m downMsg) error {
	if c.link == nil {
		c.topic.add(m)
		return nil
	}
	if confirmed := c.link.send(m); confirmed != nil {
		select {
		case <-confirmed:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (memoryClient) close() {}

func (t *memoryTopic) add(m downMsg) {
	t.mu.Lock()
	t.queue = append(t.queue, m)
	t.cond.Signal()
	t.mu.Unlock()
}

func (t *memoryTopic) consume(apply func(downMsg) error, stop <-chan struct{}) {
	go func() {
		<-stop
		t.mu.Lock()
		t.closed = true
		t.cond.Broadcast()
		t.mu.Unlock()
	}()
	for {
		t.mu.Lock()
		for len(t.queue) == 0 && !t.closed {
			t.cond.Wait()
		}
		if t.closed {
			t.mu.Unlock()
			return
		}
		m := t.queue[0]
		t.queue = t.queue[1:]
		t.busy = true
		t.mu.Unlock()
		err := apply(m)
		t.mu.Lock()
		t.busy = false
		if err != nil {
			t.closed = true // the run failed
		}
		t.mu.Unlock()
	}
}

func (t *memoryTopic) drained() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.queue) == 0 && !t.busy
}

func (t *memoryTopic) close() {}

// link is a new link of a publisher to the downstream topic, or nil if
// the topic has none of its own (a broker's proxy is the link).
func (d *downstream) link() brokerLink {
	if t, ok := d.topic.(*memoryTopic); ok {
		return &memoryLink{topic: t}
	}
	return nil
}

// memoryLink is a publisher's link to the in-process downstream topic,
// cut and healed as a proxy cuts a connection (internal/tcpproxy), so that
// the partition fault reaches the publishes as it does on a broker's
// connection, and in the simulator: a cut drops nothing, but holds each
// publish sent through it until the heal, when it reaches the topic and
// its confirm comes back; a crash (CloseConns) drops what is held.
type memoryLink struct {
	topic *memoryTopic
	mu    sync.Mutex
	cut   bool
	held  []heldPublish
}

type heldPublish struct {
	m         downMsg
	confirmed chan struct{}
}

// send puts m in the topic, or holds it if the link is cut and returns
// the channel that its confirm closes.
func (l *memoryLink) send(m downMsg) <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.cut {
		l.topic.add(m)
		return nil
	}
	h := heldPublish{m: m, confirmed: make(chan struct{})}
	l.held = append(l.held, h)
	return h.confirmed
}

func (l *memoryLink) Cut() {
	l.mu.Lock()
	l.cut = true
	l.mu.Unlock()
}

func (l *memoryLink) Heal() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = false
	for _, h := range l.held {
		l.topic.add(h.m)
		close(h.confirmed)
	}
	l.held = nil
}

func (l *memoryLink) Cutting() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cut
}

func (l *memoryLink) CloseConns() {
	l.mu.Lock()
	l.held = nil
	l.mu.Unlock()
}

// txOf is the run's number of the transaction that applied effect, as the
// records name transactions; 0 for none, or one the run did not see apply
// (its Apply's reply was lost).
func (r *session) txOf(effect int64) uint32 {
	if id, ok := r.effectTx.Load(effect); ok {
		return id.(uint32)
	}
	return 0
}
