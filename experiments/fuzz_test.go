package experiments

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// FuzzResolveRun feeds arbitrary prefixes (SQL wildcards, quotes, NULs, non-ASCII) to
// ResolveRun: it must never match a run the prefix does not start, nor fail other than with
// ErrNotFound or ErrAmbiguous.
func FuzzResolveRun(f *testing.F) {
	ids := []string{"0123456789abcdef0123456789abcdef", "0123aaaa89abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"}
	for _, s := range []string{"0123", "0123456789abcdef0123456789abcdef", "fed", "%", "_", "0123%", "'; DROP TABLE runs; --", "\x00", "é", " 0123 "} {
		f.Add(s)
	}
	db := openTemp(f)
	for _, id := range ids {
		if _, err := db.sql.Exec(`INSERT INTO runs (id, status, started_at) VALUES (?, 'FINISHED', '2026-01-01T00:00:00.000Z')`, id); err != nil {
			f.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, prefix string) {
		got, err := db.ResolveRun(context.Background(), prefix)
		p := strings.ToLower(strings.TrimSpace(prefix))
		var want []string
		for _, id := range ids {
			if p != "" && strings.HasPrefix(id, p) {
				want = append(want, id)
			}
		}
		switch {
		case len(want) == 1:
			if err != nil || got != want[0] {
				t.Fatalf("ResolveRun(%q) = %q, %v; want %s", prefix, got, err, want[0])
			}
		case len(want) > 1:
			if !errors.Is(err, ErrAmbiguous) {
				t.Fatalf("ResolveRun(%q) = %q, %v; want ErrAmbiguous", prefix, got, err)
			}
		case p == "":
			if err == nil {
				t.Fatalf("ResolveRun(%q) accepted an empty id", prefix)
			}
		default:
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("ResolveRun(%q) = %q, %v; want ErrNotFound", prefix, got, err)
			}
		}
	})
}
