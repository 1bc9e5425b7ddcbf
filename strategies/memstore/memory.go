package memstore

import (
	"sync"

	"github.com/idemsim/idemsim/strategies"
)

// Memory is an in-process strategies.Memory: a set of event ids, recorded
// nowhere. Give each handler (each instance) one of its own, as every
// runner does; a test that plays a crash gives the restarted handler a
// new one. It is safe for concurrent use.
type Memory struct {
	mu   sync.Mutex
	held map[strategies.EventID]struct{}
}

// NewMemory returns an empty Memory.
func NewMemory() *Memory { return &Memory{held: map[strategies.EventID]struct{}{}} }

// Contains reports whether m holds id.
func (m *Memory) Contains(id strategies.EventID) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.held[id]
	return ok
}

// Add puts id into m.
func (m *Memory) Add(id strategies.EventID) {
	m.mu.Lock()
	m.held[id] = struct{}{}
	m.mu.Unlock()
}

// Remove takes id out of m.
func (m *Memory) Remove(id strategies.EventID) {
	m.mu.Lock()
	delete(m.held, id)
	m.mu.Unlock()
}
