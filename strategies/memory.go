package strategies

import "sync"

// plainMemory is the Memory New gives where a runner gives none: a set in
// process, recorded nowhere. Its lock makes it safe where a runner calls
// one handler from several goroutines at once.
type plainMemory struct {
	mu   sync.Mutex
	held map[EventID]struct{}
}

func newPlainMemory() *plainMemory { return &plainMemory{held: map[EventID]struct{}{}} }

func (m *plainMemory) Contains(id EventID) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.held[id]
	return ok
}

func (m *plainMemory) Add(id EventID) {
	m.mu.Lock()
	m.held[id] = struct{}{}
	m.mu.Unlock()
}

func (m *plainMemory) Remove(id EventID) {
	m.mu.Lock()
	delete(m.held, id)
	m.mu.Unlock()
}
