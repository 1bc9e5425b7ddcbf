package memstore

import (
	"context"
	"sync"
	"time"

	"github.com/idemsim/idemsim/strategies"
)

// Marks is an in-memory MarkStore.
type Marks struct {
	mu  sync.Mutex
	exp map[strategies.EventID]time.Time // zero: no expiry
}

// NewMarks returns an empty MarkStore.
func NewMarks() *Marks { return &Marks{exp: map[strategies.EventID]time.Time{}} }

func (m *Marks) live(id strategies.EventID) bool {
	e, ok := m.exp[id]
	return ok && (e.IsZero() || time.Now().Before(e))
}

func (m *Marks) set(id strategies.EventID, ttl time.Duration) {
	var e time.Time
	if ttl > 0 {
		e = time.Now().Add(ttl)
	}
	m.exp[id] = e
}

// SetNX sets id's mark unless it exists.
func (m *Marks) SetNX(_ context.Context, id strategies.EventID, ttl time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.live(id) {
		return false, nil
	}
	m.set(id, ttl)
	return true, nil
}

// Exists reports whether id's mark exists.
func (m *Marks) Exists(_ context.Context, id strategies.EventID) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.live(id), nil
}

// Set sets id's mark.
func (m *Marks) Set(_ context.Context, id strategies.EventID, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.set(id, ttl)
	return nil
}

// Flush drops every mark, as a Redis restart without persistence would.
func (m *Marks) Flush() {
	m.mu.Lock()
	m.exp = map[strategies.EventID]time.Time{}
	m.mu.Unlock()
}
