package memstore_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/internal/txscript"
	"github.com/idemsim/idemsim/strategies"
	"github.com/idemsim/idemsim/strategies/memstore"
)

func ctx5(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Every rule of the processed-ids table, as PostgreSQL keeps it (the same
// scenarios run on PostgreSQL in package pgstore's tests): each waiting
// statement is a goroutine that must still wait after 30 ms, and answer
// once the step that releases it is done.
func TestLedgerScenarios(t *testing.T) {
	for _, sc := range txscript.Scenarios() {
		t.Run(sc.Name, func(t *testing.T) {
			txscript.Play(t, memstore.NewLedger(), 0, sc, 30*time.Millisecond)
		})
	}
}

// A statement waiting for another transaction ends with its context, and
// the transaction goes on: the same statement succeeds once the other
// transaction is over.
func TestLedgerWaitEndsWithContext(t *testing.T) {
	ctx := ctx5(t)
	calls := map[string]func(context.Context, strategies.Tx) error{
		"insert": func(ctx context.Context, tx strategies.Tx) error { _, err := tx.InsertProcessed(ctx, 1); return err },
		"read":   func(ctx context.Context, tx strategies.Tx) error { _, _, err := tx.ReadProcessed(ctx, 1); return err },
		"delete": func(ctx context.Context, tx strategies.Tx) error { _, err := tx.DeleteProcessed(ctx, 1); return err },
		"update": func(ctx context.Context, tx strategies.Tx) error {
			_, err := tx.UpdateProcessed(ctx, 1, "a", "b")
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			l := memstore.NewLedger()
			setup, _ := l.Begin(ctx)
			_, err := setup.InsertProcessed(ctx, 1)
			require.NoError(t, err)
			_, err = setup.UpdateProcessed(ctx, 1, "", "a")
			require.NoError(t, err)
			require.NoError(t, setup.Commit(ctx))

			holder, _ := l.Begin(ctx)
			ok, err := holder.DeleteProcessed(ctx, 1) // every call waits on an uncommitted delete
			require.NoError(t, err)
			require.True(t, ok)
			tx, _ := l.Begin(ctx)
			short, cancel := context.WithTimeout(ctx, 40*time.Millisecond)
			defer cancel()
			start := time.Now()
			err = call(short, tx)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			assert.Less(t, time.Since(start), 2*time.Second, "it ended with its context")
			require.NoError(t, holder.Rollback(ctx))
			assert.NoError(t, call(ctx, tx), "the transaction goes on")
			require.NoError(t, tx.Commit(ctx))
		})
	}
}

// A transaction that ended takes no more statements; Rollback after it
// does nothing.
func TestLedgerEndedTransaction(t *testing.T) {
	ctx := ctx5(t)
	l := memstore.NewLedger()
	tx, _ := l.Begin(ctx)
	require.NoError(t, tx.Commit(ctx))
	_, err := tx.InsertProcessed(ctx, 1)
	assert.ErrorIs(t, err, memstore.ErrTxDone)
	_, _, err = tx.ReadProcessed(ctx, 1)
	assert.ErrorIs(t, err, memstore.ErrTxDone)
	_, err = tx.DeleteProcessed(ctx, 1)
	assert.ErrorIs(t, err, memstore.ErrTxDone)
	_, err = tx.UpdateProcessed(ctx, 1, "", "x")
	assert.ErrorIs(t, err, memstore.ErrTxDone)
	assert.ErrorIs(t, tx.Apply(ctx, strategies.Event{ID: 1}), memstore.ErrTxDone)
	assert.ErrorIs(t, tx.Commit(ctx), memstore.ErrTxDone)
	assert.NoError(t, tx.Rollback(ctx))

	tx, _ = l.Begin(ctx)
	_, err = tx.UpdateProcessed(ctx, 1, "", "bad\x00state")
	assert.ErrorIs(t, err, strategies.ErrBadValue, "a state PostgreSQL's text cannot hold is refused")
	require.NoError(t, tx.Rollback(ctx))
}

// FOR UPDATE serialises a read-modify-write: goroutines each add one to a
// counter kept as a row's state, and no increment is lost.
func TestLedgerReadForUpdateSerialises(t *testing.T) {
	ctx := ctx5(t)
	l := memstore.NewLedger()
	tx, _ := l.Begin(ctx)
	_, err := tx.InsertProcessed(ctx, 7)
	require.NoError(t, err)
	_, err = tx.UpdateProcessed(ctx, 7, "", "0")
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))

	const workers, each = 8, 25
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				tx, _ := l.Begin(ctx)
				state, found, err := tx.ReadProcessed(ctx, 7)
				if !assert.NoError(t, err) || !assert.True(t, found) {
					return
				}
				n, _ := strconv.Atoi(state)
				ok, err := tx.UpdateProcessed(ctx, 7, state, strconv.Itoa(n+1))
				assert.NoError(t, err)
				assert.True(t, ok, "the row is locked: nobody changed it since the read")
				assert.NoError(t, tx.Commit(ctx))
			}
		}()
	}
	wg.Wait()
	tx, _ = l.Begin(ctx)
	state, found, err := tx.ReadProcessed(ctx, 7)
	require.NoError(t, err)
	assert.True(t, found)
	assert.Equal(t, strconv.Itoa(workers*each), state)
	require.NoError(t, tx.Commit(ctx))
}

// A compare-and-set without the lock: of goroutines that all update from
// the same state, exactly one wins; and an outbox-style consumer (read the
// row, apply, mark done) applies each event once however many copies race.
func TestLedgerCompareAndSetAndInbox(t *testing.T) {
	ctx := ctx5(t)
	l := memstore.NewLedger()
	tx, _ := l.Begin(ctx)
	_, err := tx.InsertProcessed(ctx, 1)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tx, _ := l.Begin(ctx)
			ok, err := tx.UpdateProcessed(ctx, 1, "", "owner-"+strconv.Itoa(i))
			assert.NoError(t, err)
			if ok {
				wins.Add(1)
			}
			assert.NoError(t, tx.Commit(ctx))
		}()
	}
	wg.Wait()
	assert.Equal(t, int32(1), wins.Load())

	inbox := func(e strategies.Event) error {
		tx, err := l.Begin(ctx)
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback(ctx) }()
		if _, err := tx.InsertProcessed(ctx, e.ID); err != nil {
			return err
		}
		state, _, err := tx.ReadProcessed(ctx, e.ID)
		if err != nil || state == "done" {
			return err
		}
		if err := tx.Apply(ctx, e); err != nil {
			return err
		}
		if _, err := tx.UpdateProcessed(ctx, e.ID, state, "done"); err != nil {
			return err
		}
		return tx.Commit(ctx)
	}
	for id := strategies.EventID(10); id < 20; id++ {
		for range 4 {
			wg.Add(1)
			go func() { defer wg.Done(); assert.NoError(t, inbox(strategies.Event{ID: id, Account: 1, Amount: 1})) }()
		}
	}
	wg.Wait()
	for id, n := range l.Applications() {
		assert.Equal(t, 1, n, "event %d", id)
	}
	assert.Len(t, l.Applications(), 10)
}

// InsertApply applies once, also from many goroutines at once, and a
// failing Apply leaves nothing.
func TestLedgerInsertApply(t *testing.T) {
	ctx := ctx5(t)
	l := memstore.NewLedger()
	var applied atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := l.InsertApply(ctx, strategies.Event{ID: 3, Account: 1, Amount: 2})
			assert.NoError(t, err)
			if ok {
				applied.Add(1)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int32(1), applied.Load())
	boom := errors.New("boom")
	l.FailApply = func(e strategies.Event) error {
		if e.ID == 4 {
			return boom
		}
		return nil
	}
	_, err := l.InsertApply(ctx, strategies.Event{ID: 4, Account: 1, Amount: 2})
	assert.ErrorIs(t, err, boom)
	l.FailApply = nil
	ok, err := l.InsertApply(ctx, strategies.Event{ID: 4, Account: 1, Amount: 2})
	require.NoError(t, err)
	assert.True(t, ok, "the failed one left no row")
	assert.Equal(t, map[strategies.EventID]int{3: 1, 4: 1}, l.Applications())
}

// The compare-and-act calls: DelIfEqual and SetIfEqual act only on the
// value given, and SetIfEqual's TTL is the new one (0: none).
func TestKVCompareAndAct(t *testing.T) {
	ctx := ctx5(t)
	kv := memstore.NewKV()
	ok, err := kv.DelIfEqual(ctx, "lock", "t1")
	require.NoError(t, err)
	assert.False(t, ok, "no key")
	ok, err = kv.SetIfEqual(ctx, "lock", "", "t1", 0)
	require.NoError(t, err)
	assert.False(t, ok, "no key is not an empty value")

	_, err = kv.Set(ctx, "lock", "t1", strategies.IfAbsent, 50*time.Millisecond)
	require.NoError(t, err)
	ok, err = kv.DelIfEqual(ctx, "lock", "t2")
	require.NoError(t, err)
	assert.False(t, ok, "another token")
	ok, err = kv.SetIfEqual(ctx, "lock", "t2", "t3", time.Minute)
	require.NoError(t, err)
	assert.False(t, ok, "another token")
	ok, err = kv.SetIfEqual(ctx, "lock", "t1", "t1", 0)
	require.NoError(t, err)
	assert.True(t, ok, "extended")
	time.Sleep(80 * time.Millisecond)
	v, found, err := kv.Get(ctx, "lock")
	require.NoError(t, err)
	assert.True(t, found, "TTL 0: no expiry any more")
	assert.Equal(t, "t1", v)
	ok, err = kv.SetIfEqual(ctx, "lock", "t1", "t1", 30*time.Millisecond)
	require.NoError(t, err)
	assert.True(t, ok)
	time.Sleep(60 * time.Millisecond)
	ok, err = kv.DelIfEqual(ctx, "lock", "t1")
	require.NoError(t, err)
	assert.False(t, ok, "the lease expired")

	_, err = kv.Set(ctx, "lock", "t1", strategies.Always, 0)
	require.NoError(t, err)
	ok, err = kv.DelIfEqual(ctx, "lock", "t1")
	require.NoError(t, err)
	assert.True(t, ok)
	_, found, err = kv.Get(ctx, "lock")
	require.NoError(t, err)
	assert.False(t, found)

	// Of many token holders racing to release, only the owner does.
	_, err = kv.Set(ctx, "race", "tok-3", strategies.Always, 0)
	require.NoError(t, err)
	var dels atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := kv.DelIfEqual(ctx, "race", "tok-"+strconv.Itoa(i%4))
			assert.NoError(t, err)
			if ok {
				dels.Add(1)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int32(1), dels.Load())
}

// Sets: SADD reports new members, a ttl > 0 sets the set's TTL and 0
// leaves it, SREM of the last member deletes the set.
func TestKVSets(t *testing.T) {
	ctx := ctx5(t)
	kv := memstore.NewKV()
	ok, err := kv.SIsMember(ctx, "s", "a")
	require.NoError(t, err)
	assert.False(t, ok)
	ok, err = kv.SRem(ctx, "s", "a")
	require.NoError(t, err)
	assert.False(t, ok)
	ok, err = kv.SAdd(ctx, "s", "a", 0)
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = kv.SAdd(ctx, "s", "a", 0)
	require.NoError(t, err)
	assert.False(t, ok, "already a member")
	ok, err = kv.SAdd(ctx, "s", "", 0)
	require.NoError(t, err)
	assert.True(t, ok, "an empty member is a member")
	ok, err = kv.SIsMember(ctx, "s", "a")
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = kv.SRem(ctx, "s", "a")
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = kv.SRem(ctx, "s", "")
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = kv.Del(ctx, "s")
	require.NoError(t, err)
	assert.False(t, ok, "the last member took the set with it")
	ok, err = kv.SAdd(ctx, "s", "x", 0)
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = kv.Set(ctx, "s", "v", strategies.IfAbsent, 0)
	require.NoError(t, err)
	assert.False(t, ok, "SET NX: the set is a key that exists")

	// TTL: > 0 sets it for the whole set, 0 leaves it.
	_, err = kv.SAdd(ctx, "t", "a", 40*time.Millisecond)
	require.NoError(t, err)
	_, err = kv.SAdd(ctx, "t", "b", 0)
	require.NoError(t, err)
	time.Sleep(70 * time.Millisecond)
	ok, err = kv.SIsMember(ctx, "t", "b")
	require.NoError(t, err)
	assert.False(t, ok, "the set expired whole, TTL kept by the SADD with 0")
	ok, err = kv.SAdd(ctx, "t", "a", 0)
	require.NoError(t, err)
	assert.True(t, ok, "a new set after the old one expired")
	time.Sleep(50 * time.Millisecond)
	ok, err = kv.SIsMember(ctx, "t", "a")
	require.NoError(t, err)
	assert.True(t, ok, "a new set does not expire")

	// Of goroutines adding the same member, one adds it.
	var added atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := kv.SAdd(ctx, "race", "m", time.Minute)
			assert.NoError(t, err)
			if ok {
				added.Add(1)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int32(1), added.Load())
}

// A string call on a set and a set call on a string fail with
// ErrWrongType and change nothing; SET overwrites either kind and DEL
// deletes either, as in Redis.
func TestKVWrongType(t *testing.T) {
	ctx := ctx5(t)
	kv := memstore.NewKV()
	_, err := kv.Set(ctx, "str", "v", strategies.Always, 0)
	require.NoError(t, err)
	_, err = kv.SAdd(ctx, "set", "m", 0)
	require.NoError(t, err)
	for name, call := range map[string]func() error{
		"SADD":      func() error { _, err := kv.SAdd(ctx, "str", "m", time.Millisecond); return err },
		"SISMEMBER": func() error { _, err := kv.SIsMember(ctx, "str", "v"); return err },
		"SREM":      func() error { _, err := kv.SRem(ctx, "str", "v"); return err },
		"GET":       func() error { _, _, err := kv.Get(ctx, "set"); return err },
		"DEL IFEQ":  func() error { _, err := kv.DelIfEqual(ctx, "set", "m"); return err },
		"SET IFEQ":  func() error { _, err := kv.SetIfEqual(ctx, "set", "m", "x", 0); return err },
	} {
		err := call()
		assert.ErrorIs(t, err, strategies.ErrWrongType, name)
		assert.Contains(t, err.Error(), name, "the message names the call")
	}
	time.Sleep(5 * time.Millisecond)
	v, found, err := kv.Get(ctx, "str")
	require.NoError(t, err)
	assert.True(t, found, "the failed SADD set no TTL on the string")
	assert.Equal(t, "v", v)
	ok, err := kv.SIsMember(ctx, "set", "m")
	require.NoError(t, err)
	assert.True(t, ok)

	ok, err = kv.Set(ctx, "set", "now a string", strategies.IfPresent, 0)
	require.NoError(t, err)
	assert.True(t, ok)
	v, _, err = kv.Get(ctx, "set")
	require.NoError(t, err)
	assert.Equal(t, "now a string", v)
	_, err = kv.SAdd(ctx, "str2", "m", 0)
	require.NoError(t, err)
	ok, err = kv.Del(ctx, "str2")
	require.NoError(t, err)
	assert.True(t, ok)
}

// Misuse is an error, never a panic: bad keys, values, members and TTLs.
func TestKVBadInput(t *testing.T) {
	ctx := ctx5(t)
	kv := memstore.NewKV()
	long := strings.Repeat("k", strategies.MaxKeyLen+1)
	for _, key := range []string{"", "a\nb", long} {
		_, err := kv.DelIfEqual(ctx, key, "v")
		assert.ErrorIs(t, err, strategies.ErrBadKey)
		_, err = kv.SetIfEqual(ctx, key, "v", "w", 0)
		assert.ErrorIs(t, err, strategies.ErrBadKey)
		_, err = kv.SAdd(ctx, key, "m", 0)
		assert.ErrorIs(t, err, strategies.ErrBadKey)
		_, err = kv.SIsMember(ctx, key, "m")
		assert.ErrorIs(t, err, strategies.ErrBadKey)
		_, err = kv.SRem(ctx, key, "m")
		assert.ErrorIs(t, err, strategies.ErrBadKey)
	}
	_, err := kv.DelIfEqual(ctx, "k", "v\x00")
	assert.ErrorIs(t, err, strategies.ErrBadValue)
	_, err = kv.SetIfEqual(ctx, "k", "v", "\x01", 0)
	assert.ErrorIs(t, err, strategies.ErrBadValue)
	_, err = kv.SetIfEqual(ctx, "k", "v", "w", -time.Second)
	assert.ErrorIs(t, err, strategies.ErrBadValue)
	_, err = kv.SAdd(ctx, "k", "m\n", 0)
	assert.ErrorIs(t, err, strategies.ErrBadValue)
	_, err = kv.SAdd(ctx, "k", "m", -time.Second)
	assert.ErrorIs(t, err, strategies.ErrBadValue)
}
