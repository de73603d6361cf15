package experiments

import (
	"cmp"
	"context"
	"database/sql"
	"slices"
	"strings"
)

// execer is what *sql.DB and *sql.Tx share for writing.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

// metricsPerInsert rows go into one multi-row INSERT: one cgo call per chunk instead of per row,
// and 5 × 200 bound variables stay far below SQLite's limit.
const metricsPerInsert = 200

// insertMetrics writes rows (replacing any value already logged for the same key and step).
func insertMetrics(ctx context.Context, tx execer, runID string, rows []metricRow) error {
	// In primary-key order, consecutive rows land on the same B-tree pages.
	slices.SortStableFunc(rows, func(a, b metricRow) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return cmp.Compare(a.step, b.step)
	})
	full := len(rows) / metricsPerInsert * metricsPerInsert
	if full > 0 {
		stmt, err := tx.PrepareContext(ctx, metricsInsert(metricsPerInsert))
		if err != nil {
			return err
		}
		defer stmt.Close()
		args := make([]any, 0, 5*metricsPerInsert)
		for i := 0; i < full; i += metricsPerInsert {
			args = appendMetricArgs(args[:0], runID, rows[i:i+metricsPerInsert])
			if _, err := stmt.ExecContext(ctx, args...); err != nil {
				return err
			}
		}
	}
	if rest := rows[full:]; len(rest) > 0 {
		if _, err := tx.ExecContext(ctx, metricsInsert(len(rest)), appendMetricArgs(nil, runID, rest)...); err != nil {
			return err
		}
	}
	return nil
}

func metricsInsert(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO metrics (run_id, key, step, value, at) VALUES `)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?)")
	}
	b.WriteString(` ON CONFLICT (run_id, key, step) DO UPDATE SET value = excluded.value, at = excluded.at`)
	return b.String()
}

func appendMetricArgs(args []any, runID string, rows []metricRow) []any {
	for _, m := range rows {
		args = append(args, runID, m.key, m.step, m.value, m.at)
	}
	return args
}
