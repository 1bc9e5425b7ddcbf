package memstore

import (
	"context"
	"fmt"
	"sync"

	"github.com/idemsim/idemsim/strategies"
)

// The outbox table (strategies.OutboxTx, strategies.OutboxReader): rows
// that a transaction inserts commit with it, numbered from 1 in the order
// they committed.

type outboxRow struct {
	ev   strategies.Event
	sent bool
}

// InsertOutbox adds e's downstream event to the outbox, in the transaction.
func (t *Tx) InsertOutbox(_ context.Context, e strategies.Event) error {
	if err := t.start(); err != nil {
		return err
	}
	defer t.l.mu.Unlock()
	t.outbox = append(t.outbox, e)
	return nil
}

// NextOutbox returns the committed, unsent row with the lowest number.
func (l *Ledger) NextOutbox(context.Context) (strategies.OutboxRow, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, r := range l.outbox {
		if !r.sent {
			return strategies.OutboxRow{Seq: int64(i + 1), Event: r.ev}, true, nil
		}
	}
	return strategies.OutboxRow{}, false, nil
}

// MarkSent marks row seq sent and reports whether it was unsent.
func (l *Ledger) MarkSent(_ context.Context, seq int64) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if seq < 1 || seq > int64(len(l.outbox)) {
		return false, fmt.Errorf("%w: outbox row %d, which the outbox does not hold", strategies.ErrBadValue, seq)
	}
	r := &l.outbox[seq-1]
	was := r.sent
	r.sent = true
	return !was, nil
}

// Publisher is an in-process downstream topic (strategies.Publisher): it
// keeps what was published, in order. Safe for concurrent use.
type Publisher struct {
	mu        sync.Mutex
	published []strategies.Event
}

// NewPublisher returns an empty Publisher.
func NewPublisher() *Publisher { return &Publisher{} }

// Publish appends e's downstream event to the topic.
func (p *Publisher) Publish(_ context.Context, e strategies.Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.published = append(p.published, e)
	return nil
}

// Published counts the downstream events published per event.
func (p *Publisher) Published() map[strategies.EventID]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[strategies.EventID]int{}
	for _, e := range p.published {
		out[e.ID]++
	}
	return out
}
