package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idemsim/idemsim/strategies"
)

// ProviderTables are the SQL names (schema-qualified and quoted) of the
// tables in which idemsim's payment provider (idemsim provider) keeps its
// idempotency keys and its charges.
type ProviderTables struct {
	Schema  string
	Keys    string // <prefix>_provider_keys
	Charges string // <prefix>_provider_charges
}

// EnsureProvider creates, in the current schema, whichever of prefix's
// payment provider tables are missing, marked as idemsim's as New marks
// the ledger's, and returns their names. It refuses (with a
// *NotOwnedError) a relation of those names that idemsim did not create,
// and touches nothing then. Drop removes them with the rest of the
// prefix's tables. Give ctx a deadline.
//
//	<prefix>_provider_keys    (scope, key) PRIMARY KEY: the first request's
//	                          account, amount and reference, its state
//	                          (running or done), the token of the request
//	                          that holds it, its charge and when it expires
//	<prefix>_provider_charges one row per charge made, with its scope and
//	                          reference (the event id), account and amount
func EnsureProvider(ctx context.Context, pool *pgxpool.Pool, prefix string) (ProviderTables, error) {
	if err := strategies.ValidatePrefix(prefix); err != nil {
		return ProviderTables{}, err
	}
	schema, err := currentSchema(ctx, pool)
	if err != nil {
		return ProviderTables{}, err
	}
	t := ProviderTables{
		Schema:  schema,
		Keys:    pgx.Identifier{schema, prefix + "_provider_keys"}.Sanitize(),
		Charges: pgx.Identifier{schema, prefix + "_provider_charges"}.Sanitize(),
	}
	set := providerNames(prefix)
	rels, err := existing(ctx, pool, schema, prefix)
	if err != nil {
		return t, err
	}
	if err := foreign(schema, prefix, set, rels); err != nil {
		return t, err
	}
	if hasAll(rels, set) {
		return t, nil
	}
	ddl := map[string]string{
		set[0]: fmt.Sprintf(`CREATE TABLE %s (scope text NOT NULL, key text NOT NULL,
	account int NOT NULL, amount bigint NOT NULL, reference bigint NOT NULL,
	state text NOT NULL, token text NOT NULL, charge text NOT NULL DEFAULT '',
	started timestamptz NOT NULL, expires timestamptz,
	PRIMARY KEY (scope, key))`, t.Keys),
		set[1]: fmt.Sprintf(`CREATE TABLE %s (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	scope text NOT NULL, reference bigint NOT NULL, account int NOT NULL, amount bigint NOT NULL,
	at timestamptz NOT NULL DEFAULT clock_timestamp())`, t.Charges),
	}
	return t, createMarked(ctx, pool, schema, prefix, set, ddl)
}
