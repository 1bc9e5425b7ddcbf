package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/idemsim/idemsim/internal/provider"
	"github.com/idemsim/idemsim/strategies"
)

// provEnv is idemsim's payment provider for the benchmarks: served in this
// process (provider.Serve, over HTTP on loopback, its keys and charges in
// the throwaway PostgreSQL under benchPrefix), and a client with enough
// idle connections for every consumer, in a scope of the benchmarks' own.
type provEnv struct {
	url    string
	hc     *http.Client
	client *provider.Client
	stop   func()
}

// benchScope is the benchmarks' scope at the provider.
const benchScope = "bench"

// startProvider serves the provider on pgURL, or fails tb.
func startProvider(tb testing.TB, pgURL string) *provEnv {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	urls := make(chan string, 1)
	served := make(chan error, 1)
	go func() {
		served <- provider.Serve(ctx, provider.Config{Listen: "127.0.0.1:0", PostgresURL: pgURL, Prefix: benchPrefix}, func(u string) { urls <- u })
	}()
	var u string
	select {
	case u = <-urls:
	case err := <-served:
		cancel()
		tb.Fatalf("bench: the payment provider: %v", err)
	case <-time.After(15 * time.Second):
		cancel()
		tb.Fatal("bench: the payment provider did not serve within 15 s")
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64, DisableCompression: true}}
	return &provEnv{url: u, hc: hc, client: &provider.Client{URL: u, Scope: benchScope, HTTP: hc}, stop: func() {
		hc.CloseIdleConnections()
		cancel()
		<-served
	}}
}

// auditCharges counts, after a run over events 1..events of a strategy
// that charges, the charges beyond the first (dups) and the events never
// charged (lost), at the provider.
func (env *realEnv) auditCharges(b *testing.B, events uint64) (dups, lost int) {
	b.Helper()
	counts, err := env.prov.client.Counts(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	for id, n := range counts {
		if uint64(id) < 1 || uint64(id) > events {
			b.Fatalf("the provider holds a charge of event %d, outside the run's 1..%d", id, events)
		}
		dups += n - 1
	}
	return dups, int(events) - len(counts)
}

// rawCharge is BenchmarkRaw/provider-charge: one POST /v1/charges of
// operation i's event with its idempotency key, as api-key sends it,
// written with net/http alone; each event twice, so the second is
// answered from the key (or, while the first runs, with 409).
func rawCharge(ctx context.Context, env *realEnv, i uint64) error {
	e := deliveryEvent(i)
	body, _ := json.Marshal(provider.Charge{Account: e.Account, Amount: e.Amount, Reference: int64(e.ID)})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, env.prov.url+provider.PathCharges, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(provider.HeaderKey, strategies.ProviderKey(e.ID))
	req.Header.Set(provider.HeaderScope, benchScope)
	resp, err := env.prov.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusConflict {
		return fmt.Errorf("bench: the provider answered %s", resp.Status)
	}
	return nil
}
