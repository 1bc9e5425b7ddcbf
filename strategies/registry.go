package strategies

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// Strategy describes one deduplication strategy, once: its name, how to
// build it, which stores it needs, what it does and why it breaks, and the
// outcome-table row it is expected to show. The command line, the
// conformance suite, the plots, explain and the tests all read this
// description instead of switching on a strategy's name, so a new strategy
// is one file that calls Register.
type Strategy struct {
	// Name is how users and tables call it: lowercase letters, digits and
	// '-'.
	Name string
	// Order places it in tables: lower first. The built-ins take 10 to
	// 60; a strategy without an Order comes after them, in the order of
	// registration.
	Order int
	// Summary says in one line what it does.
	Summary string
	// Breaks says in one line why it breaks, or why it holds.
	Breaks string
	// Needs lists the stores New uses; New gets Deps that hold them.
	Needs Needs
	// New builds the strategy for one consumer instance. Each instance
	// builds its own, so memory of its own starts empty at every start.
	New func(Deps) (Handler, error)
	// Memory says that it keeps what it handled in the instance's memory,
	// where no other instance can see it and a crash empties it: explain
	// shows each instance's memory at every step. A memory kept in
	// Deps.Memory is recorded, call by call, and explain tells what it
	// held from the trace; one the strategy keeps of its own (a Go map),
	// only as far as Teaching.Remembers says.
	Memory bool
	// Expected is its outcome-table row: for each scenario name
	// ("redeliver", ..., "all"), the kinds of violation seen over seeds
	// 1..200 with 3 instances and 200 events: "ok", "dup", "lost",
	// "dup+lost", ... A scenario it does not name is not asserted.
	Expected map[string]string
	// ExpectedOn is its outcome-table rows on the brokers other than
	// the queue (run.BrokerNames), by broker name, each as Expected is
	// on the queue.
	ExpectedOn map[string]map[string]string
	// Brokers lists the broker models it runs on (run.BrokerNames: the
	// log's kafka-commit and offset-in-db need offsets); nil means all.
	// A table shows "-" where it does not run.
	Brokers []string
	// Lesson, if set, is the scenario explain tries first.
	Lesson string
	// Teaching is what explain says of the strategy in its own words.
	// Without it, explain tells a run of the strategy from its store
	// calls in neutral words.
	Teaching Teaching
	// Promises is what the conformance suite holds the strategy to, case
	// by case, on every backend.
	Promises Promises
	// Relay, for a strategy that sends its downstream events through an
	// outbox (NeedsOutbox), builds the relay that publishes the outbox's
	// rows: a component that runs beside the instances, one at a time,
	// with Deps of its own (its Instance is the number after the last
	// instance's, its Name "relay"). nil for the others.
	Relay func(Deps) (Relay, error)
}

// RunsOn reports whether the strategy runs on the broker model called
// broker.
func (s Strategy) RunsOn(broker string) bool {
	return s.Brokers == nil || slices.Contains(s.Brokers, broker)
}

// ExpectedRow is its expected row on broker: Expected on the queue,
// ExpectedOn[broker] on another.
func (s Strategy) ExpectedRow(broker string) map[string]string {
	if broker == "" || broker == "queue" {
		return s.Expected
	}
	return s.ExpectedOn[broker]
}

// Promises are what a strategy promises, and what it does not, in the
// conformance suite's cases (package strategies/conformance). The zero
// value promises nothing: every copy applies, as with no deduplication.
// A case that does not fit the strategy at all is declined, with the
// reason, rather than promised something untrue.
type Promises struct {
	// SameInstance: a second copy handled by the same instance, after the
	// first was applied, is skipped.
	SameInstance bool
	// OtherInstance: a second copy handled by another instance, after the
	// first was applied, is skipped: the memory is shared.
	OtherInstance bool
	// Concurrent says what two copies handled at the same moment by two
	// instances do.
	Concurrent Concurrency
	// AfterFailure is what the copy that comes after a failed effect (the
	// handler returned an error) gets: Applied (the strategy retries),
	// Skipped (its mark outlived the failure: the event is lost) or
	// RetryLater (it holds the event until its lease ends); 0 means
	// Applied.
	AfterFailure Outcome
	// Declines names the cases that do not apply to the strategy, by the
	// case's name (the constants of package conformance:
	// conformance.CaseMarkExpires, ...), each with the reason, in a few
	// words that go test -v shows where it skips the case: a strategy
	// whose keys live as long as it says, whatever Deps.MarkTTL, declines
	// CaseMarkExpires; one that acks an event whose effect failed
	// (Dropped) declines CaseAfterFailure. A name that is no case's, or a
	// decline without a reason, fails the suite.
	Declines map[string]string
}

// Concurrency is what two copies of one event, handled at once on two
// instances, do.
type Concurrency uint8

// The promises about two copies at once.
const (
	BothApply  Concurrency = iota // both copies apply: no shared memory
	OneApplies                    // exactly one copy applies
	NoPromise                     // one or both may apply
)

// Teaching is how explain tells a run of a strategy in the strategy's own
// words. Every field is optional: explain derives what happened from the
// run's trace (which calls were made, what the stores answered, what the
// handler returned), and these words only name it. Texts may hold
// placeholders that explain fills from the run: {strategy} (its name),
// {event} (the event told), {first} and {second} (the instances that
// applied the event first and second, for a duplicate), {mark} (Mark),
// {memory} (MemoryName), and, for a key-value call, {key}, {value} (the
// value it writes) and {ttl} (the TTL it gives). Only two fields let
// explain say more than the trace shows: MarkKey (which key is the mark)
// and Remembers (when the memory is written); the others name what it
// shows.
type Teaching struct {
	// Mark names what the strategy keeps to remember that an event was
	// handled, in one word, as in "every later copy found the claim and
	// skipped": "claim", "mark", "id", "lease". Default: "mark".
	Mark string
	// MarkKey, for a strategy that keeps its mark in the key-value store
	// (KV), names the key of event id's mark, as LeaseKey does for
	// redis-lease. explain then calls that key, and that key only, the
	// event's mark, and tells why the mark was there or not when a copy
	// came. Without it, explain does not guess which of a strategy's keys
	// is its mark (a strategy may keep a lock key and a record key per
	// event): it names every key as a key and says only what the trace
	// shows of it. A MarkStore's mark and the processed id need no
	// MarkKey: they are the event's mark by the store's contract.
	MarkKey func(EventID) string
	// Marked says what taking the mark did, in the past tense, as in
	// "instance 0 claimed event 1 in Redis at 50.512 ms": "claimed event
	// {event} in Redis". Default: from the call that took it, as "set
	// event 1's key in Redis" or "committed event 1's id".
	Marked string
	// MemoryName names the memory of a strategy with Memory, as in "looks
	// in its cache: event 1 is not there": "cache". Default: "memory".
	MemoryName string
	// Remembers says, for a strategy with Memory that keeps its memory
	// of its own (a Go map) rather than in Deps.Memory, when an event
	// enters the instance's memory. Such a memory is no store: the trace
	// does not show it, so explain says what the memory holds only if
	// the description says when it is written. The calls of Deps.Memory
	// are recorded, and where a run's trace has them explain tells the
	// memory from them and needs no rule. By default
	// (MemoryUnsaid) it says only what the trace shows: that a handler
	// skipped without asking any store, and which deliveries that
	// incarnation of the instance had handled before. A rule the trace
	// belies (a handler skipped without asking any store while, by the
	// rule, its memory did not hold the event) is set aside for that run.
	Remembers MemoryRule
	// Calls names the strategy's store calls, by the call's label: the
	// operation as traces name it (run.Op's String: "SetNX", "Exists",
	// "Set" (MarkStore); "InsertProcessed", "ReadProcessed",
	// "UpdateProcessed", "DeleteProcessed", "Apply", "Commit", "Rollback"
	// (Tx); "InsertApply" (Ledger); "GET", "SET", "SET NX", "SET XX",
	// "DEL", "DEL IFEQ", "SET IFEQ", "SADD", "SISMEMBER", "SREM" (KV)),
	// optionally followed by a space and the call's key with the event's
	// id written {event}, as "SET NX idem:lock:{event}". A label with a
	// key names only the calls on that key, and wins over the operation
	// alone, so that two calls of one operation with different meanings
	// (a SET NX of a lock, a SET NX of a record) are told apart. A call
	// no label names is told in neutral words.
	Calls map[string]CallWords
	// Values says what the values a key-value strategy writes mean, by
	// value, in a few words that follow the value, as in "lease:1 =
	// INPROGRESS (a handler holds the lease)": "INPROGRESS": "a handler
	// holds the lease". explain says it where a GET finds the value.
	Values map[string]string
	// Why says why the strategy let a violation through, in a sentence or
	// two that explain puts before what the run shows (after a text that
	// ends in a colon, what the run shows goes on in the same sentence).
	// The key is the kind
	// of violation ("dup", "lost", "stuck"), or the kind and the situation
	// explain found, which wins over the kind alone: "dup:unguarded" (the
	// handler read no mark before the effect), "dup:unseen" (the second
	// instance's memory never held the event), "dup:forgotten" (a crash
	// emptied the memory that held it), "dup:unremembered" (the handler
	// failed after its effect committed, so its memory never took the
	// event), "dup:mark-lost" (Redis lost the mark), "dup:mark-expired"
	// (the mark outlived its TTL), "dup:lease-expired" (the key a handler
	// set before its effect expired before that handler wrote it again
	// after the effect: a lease that ended under a handler that did not
	// finish), "dup:released" (a handler deleted its key after its effect
	// had committed, as if the effect had failed), "dup:raced" (the second
	// check came before the first handler wrote its mark), "dup:unmarked"
	// (the first handler never wrote its mark), "lost:marked-first" (the
	// mark was taken, the effect never committed), "lost:dropped" (a
	// handler gave up and asked for an ack with nothing applied, Dropped),
	// "lost:acked-failure" (a handler whose effect failed returned Skipped
	// all the same); for a strategy that charges the payment provider,
	// "dup:unkeyed" (both charges carried no idempotency key) and
	// "dup:key-forgotten" (both carried one key, and the provider answered
	// the second as new: it no longer kept the key). The situations about a mark ("dup:mark-lost" ...
	// "lost:marked-first") are found only where explain knows the mark: a
	// MarkStore's, the processed id, or MarkKey's; those about a memory
	// ("dup:unseen" ... "dup:unremembered") only where the trace records
	// the memory (Deps.Memory) or Remembers says when it is written.
	Why map[string]string
	// Fix marks a strategy that survives every scenario (of one fault,
	// at least). After a violation, explain replays the same run (seed,
	// instances, events, faults) under it and tells what it did instead;
	// the first strategy in table order that sets Fix and keeps its
	// effect where the broken one does (the ledger, or the payment
	// provider: NeedsProvider) is the one replayed.
	Fix bool
}

// MemoryRule says when a strategy with Memory puts an event into an
// instance's memory (Teaching.Remembers).
type MemoryRule uint8

// The rules of a memory.
const (
	// MemoryUnsaid: the description does not say; explain tells only
	// what the trace shows.
	MemoryUnsaid MemoryRule = iota
	// MemoryOnApplied: the handler puts the event into its memory when
	// it returns Applied, after the effect committed, and only then; only
	// a crash empties the memory (local-cache).
	MemoryOnApplied
)

// CallWords is how explain names one kind of store call of a strategy.
type CallWords struct {
	// Name names the call in a sentence, as in "crashes with its SET NX
	// (the claim) in flight": "SET NX (the claim)".
	Name string
	// Does says what the call does, in the present tense, with {event}
	// (and {key}, {value}, {ttl} for a key-value call): "claims event
	// {event} in Redis with SET NX".
	Does string
	// Fails says what the call does when the store answers no (the key
	// exists, the id is taken), if Does would not fit: "tries to claim
	// event {event} in Redis with SET NX".
	Fails string
}

// Needs is a set of stores a strategy uses.
type Needs uint8

// The stores a strategy can need.
const (
	NeedsLedger    Needs = 1 << iota // the database, where every effect lives
	NeedsMarks                       // Redis marks keyed by event id
	NeedsKV                          // Redis keys and values
	NeedsProvider                    // the payment provider, where the effect is a charge
	NeedsPublisher                   // a Publisher to the downstream topic, whose consumer the checkers judge
	NeedsOutbox                      // a Ledger with an outbox (OutboxTx, OutboxReader), read by the strategy's Relay
)

// Has reports whether n holds every store of want.
func (n Needs) Has(want Needs) bool { return n&want == want }

var (
	registryMu sync.RWMutex
	registry   []Strategy // sorted by Order, then registration
	nameRE     = regexp.MustCompile(`^[a-z][a-z0-9-]{0,39}$`)
)

// Register adds s to the strategies every runner accepts. It refuses a
// name that is taken or malformed, or a description without New. The
// built-ins register themselves; a user registers theirs before running
// (in an init function or at the top of a test).
func Register(s Strategy) error {
	if !nameRE.MatchString(s.Name) {
		return fmt.Errorf("strategies: bad name %q: want a lowercase letter, then up to 39 lowercase letters, digits or '-'", s.Name)
	}
	if s.New == nil {
		return fmt.Errorf("strategies: %s has no New", s.Name)
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	for _, r := range registry {
		if r.Name == s.Name {
			return fmt.Errorf("strategies: %s is registered already", s.Name)
		}
	}
	if s.Order == 0 {
		s.Order = 1000
	}
	s.Needs |= NeedsLedger // every effect lives in the ledger
	registry = append(registry, s)
	slices.SortStableFunc(registry, func(a, b Strategy) int { return a.Order - b.Order })
	return nil
}

// MustRegister is Register for descriptions that cannot be wrong, such as
// the built-ins': it panics on an error.
func MustRegister(s Strategy) {
	if err := Register(s); err != nil {
		panic(err)
	}
}

// Lookup returns the strategy called name.
func Lookup(name string) (Strategy, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	// By index: a Strategy is large, and ranging by value would copy
	// every one passed over (every run looks its strategy up).
	for i := range registry {
		if registry[i].Name == name {
			return registry[i], true
		}
	}
	return Strategy{}, false
}

// All lists the registered strategies in table order.
func All() []Strategy {
	registryMu.RLock()
	defer registryMu.RUnlock()
	return slices.Clone(registry)
}

// On lists the registered strategies that run on the broker model called
// broker (RunsOn), in table order.
func On(broker string) []Strategy {
	var out []Strategy
	for _, s := range All() {
		if s.RunsOn(broker) {
			out = append(out, s)
		}
	}
	return out
}

// NamesOn lists the names of the strategies On lists.
func NamesOn(broker string) []string {
	var names []string
	for _, s := range On(broker) {
		names = append(names, s.Name)
	}
	return names
}

// Names lists the registered strategies' names in table order.
func Names() []string {
	all := All()
	names := make([]string, len(all))
	for i, s := range all {
		names[i] = s.Name
	}
	return names
}

// New builds the strategy called name for one consumer instance from d,
// which must hold the stores it needs. Misuse is an error, never a panic.
func New(name string, d Deps) (Handler, error) {
	s, ok := Lookup(name)
	if !ok {
		return nil, fmt.Errorf("strategies: unknown strategy %q (accepted: %s)", name, strings.Join(Names(), ", "))
	}
	if d.Ledger == nil {
		return nil, fmt.Errorf("strategies: %s needs a Ledger", name)
	}
	if s.Needs.Has(NeedsMarks) && d.Marks == nil {
		return nil, fmt.Errorf("strategies: %s needs a MarkStore", name)
	}
	if s.Needs.Has(NeedsKV) && d.KV == nil {
		return nil, fmt.Errorf("strategies: %s needs a KV store", name)
	}
	if s.Needs.Has(NeedsProvider) && d.Provider == nil {
		return nil, fmt.Errorf("strategies: %s needs a Provider", name)
	}
	if s.Needs.Has(NeedsPublisher) && d.Publisher == nil {
		return nil, fmt.Errorf("strategies: %s needs a Publisher", name)
	}
	if s.Needs.Has(NeedsOutbox) {
		if _, ok := d.Ledger.(OutboxReader); !ok {
			return nil, fmt.Errorf("strategies: %s: %w", name, ErrNoOutbox)
		}
	}
	if d.Clock == nil {
		d.Clock = wallClock{}
	}
	if d.Rand == nil {
		d.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if d.Memory == nil {
		d.Memory = newPlainMemory()
	}
	h, err := s.New(d)
	switch {
	case err != nil:
		return nil, &NewError{Strategy: name, Err: err}
	case h == nil:
		return nil, &NewError{Strategy: name, Err: errors.New("it returned no handler and no error")}
	}
	return h, nil
}

// NewError is the error of a strategy's own New: the strategy refused to
// build, which no runner can mend. A runner reports it and gives no
// verdict.
type NewError struct {
	Strategy string
	Err      error
}

func (e *NewError) Error() string {
	return fmt.Sprintf("strategy %s: New failed: %v", e.Strategy, e.Err)
}

// Unwrap returns the strategy's own error.
func (e *NewError) Unwrap() error { return e.Err }

// Valid reports whether a strategy called name is registered.
func Valid(name string) bool {
	_, ok := Lookup(name)
	return ok
}

// wallClock is the Clock of a runner that gives none: the wall clock.
type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

// Unregister removes the strategy called name and reports whether it was
// registered: for a test that registers a strategy for its own time only
// (t.Cleanup), so that no other test sees it.
func Unregister(name string) bool {
	registryMu.Lock()
	defer registryMu.Unlock()
	for i, s := range registry {
		if s.Name == name {
			registry = slices.Delete(registry, i, i+1)
			return true
		}
	}
	return false
}

// NewRelay builds the relay of the strategy called name (Strategy.Relay)
// from d, which must hold a Ledger with an outbox and a Publisher; ok is
// false for a strategy that has none.
func NewRelay(name string, d Deps) (r Relay, ok bool, err error) {
	s, found := Lookup(name)
	if !found || s.Relay == nil {
		return nil, false, nil
	}
	if _, isReader := d.Ledger.(OutboxReader); !isReader {
		return nil, true, fmt.Errorf("strategies: %s's relay: %w", name, ErrNoOutbox)
	}
	if d.Publisher == nil {
		return nil, true, fmt.Errorf("strategies: %s's relay needs a Publisher", name)
	}
	r, err = s.Relay(d)
	switch {
	case err != nil:
		return nil, true, &NewError{Strategy: name, Err: err}
	case r == nil:
		return nil, true, &NewError{Strategy: name, Err: errors.New("its Relay returned no relay and no error")}
	}
	return r, true, nil
}
