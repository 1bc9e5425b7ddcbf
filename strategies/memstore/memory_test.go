package memstore_test

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/idemsim/idemsim/strategies"
	"github.com/idemsim/idemsim/strategies/memstore"
)

// A Memory holds what was added until it is removed, each Memory its own,
// and several goroutines may use one at once.
func TestMemory(t *testing.T) {
	var m strategies.Memory = memstore.NewMemory()
	other := memstore.NewMemory()
	assert.False(t, m.Contains(3))
	m.Add(3)
	m.Add(3)
	assert.True(t, m.Contains(3))
	assert.False(t, other.Contains(3), "each memory is its own")
	m.Remove(3)
	m.Remove(4)
	assert.False(t, m.Contains(3))

	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := strategies.EventID(g * 100); id < strategies.EventID(g*100+50); id++ {
				m.Add(id)
				m.Contains(id)
			}
		}()
	}
	wg.Wait()
	for g := range 4 {
		assert.True(t, m.Contains(strategies.EventID(g*100+49)))
	}
}
