package realrun

import "sync"

// brokerRun is the part of a real broker's state that every server broker
// (NATS, RabbitMQ, Kafka) keeps alike: which consumers were told to leave,
// whether the run stopped, and whether every message is settled. Each
// embeds it, and its mu guards the embedding broker's own state too, so
// that both are read and changed under one lock, as before.
type brokerRun struct {
	mu      sync.Mutex
	stopped bool
	halted  chan struct{} // closed by Stop
	leaving []bool
	allDone chan struct{} // closed by settledLocked
	done    bool          // allDone is closed
}

// init readies r for a run of consumers consumers.
func (r *brokerRun) init(consumers int) {
	r.halted, r.allDone = make(chan struct{}), make(chan struct{})
	r.leaving = make([]bool, consumers)
}

func (r *brokerRun) CallOff(consumer int) {
	r.mu.Lock()
	r.leaving[consumer] = true
	r.mu.Unlock()
}

func (r *brokerRun) Rejoin(consumer int) {
	r.mu.Lock()
	r.leaving[consumer] = false
	r.mu.Unlock()
}

func (r *brokerRun) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.stopped {
		r.stopped = true
		close(r.halted)
	}
}

func (r *brokerRun) Halted() <-chan struct{}  { return r.halted }
func (r *brokerRun) AllDone() <-chan struct{} { return r.allDone }

// settledLocked closes AllDone, once: every message is settled. The
// caller holds mu.
func (r *brokerRun) settledLocked() {
	if !r.done {
		r.done = true
		close(r.allDone)
	}
}
