package experiments

import (
	"cmp"
	"context"
	"database/sql"
	"slices"
	"strings"
	"time"
)

// Metric is one recorded value of a metric.
type Metric struct {
	Key   string
	Step  int64
	Value float64 // NaN when the logged value was NaN
	At    time.Time
}

// Point is one point of a metric series.
type Point struct {
	Step  int64
	Value float64
	At    time.Time
}

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

// LatestMetrics returns the value at the highest step of each of a run's metrics, by key.
func (db *DB) LatestMetrics(ctx context.Context, runID string) ([]Metric, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT key, step, value, at FROM latest_metrics WHERE run_id = ? ORDER BY key`, runID)
	if err != nil {
		return nil, db.wrap("read latest metrics of run "+runID+" in", err)
	}
	defer rows.Close()
	var out []Metric
	for rows.Next() {
		var m Metric
		var v sql.NullFloat64
		var at sql.NullString
		if err := rows.Scan(&m.Key, &m.Step, &v, &at); err != nil {
			return nil, db.wrap("read latest metrics of run "+runID+" in", err)
		}
		m.Value, m.At = nullNaN(v), parseTime(at)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, db.wrap("read latest metrics of run "+runID+" in", err)
	}
	return out, nil
}

// MetricKeys returns the keys of the metrics a run logged, sorted.
func (db *DB) MetricKeys(ctx context.Context, runID string) ([]string, error) {
	ms, err := db.LatestMetrics(ctx, runID)
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(ms))
	for i, m := range ms {
		keys[i] = m.Key
	}
	return keys, nil
}

// MetricSeries returns every value of metric key logged by a run, in step order.
func (db *DB) MetricSeries(ctx context.Context, runID, key string) ([]Point, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT step, value, at FROM metrics WHERE run_id = ? AND key = ? ORDER BY step`, runID, key)
	if err != nil {
		return nil, db.wrap("read metric "+key+" of run "+runID+" in", err)
	}
	defer rows.Close()
	var out []Point
	for rows.Next() {
		var p Point
		var v sql.NullFloat64
		var at sql.NullString
		if err := rows.Scan(&p.Step, &v, &at); err != nil {
			return nil, db.wrap("read metric "+key+" of run "+runID+" in", err)
		}
		p.Value, p.At = nullNaN(v), parseTime(at)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, db.wrap("read metric "+key+" of run "+runID+" in", err)
	}
	return out, nil
}
