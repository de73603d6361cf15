package experiments

import (
	"context"
	"database/sql"
	"math"
	"strings"
	"time"
)

// MetricRow is the values a run logged at one step, side by side: Values[i] is keys[i]'s value
// of the call that read it, NaN where that key was not logged at this step (Logged says which).
type MetricRow struct {
	Step   int64
	At     time.Time // when the step's first value was written
	Values []float64
	Logged []bool
}

// EachMetricRow streams the metrics run runID logged at steps after from, in step order, one
// row per step, the columns in the order of keys (nil keys: every key the run logged, sorted,
// as MetricKeys). Only one row is held at a time, so a run of a million steps exports in flat
// memory. It returns the keys of the columns.
func (db *DB) EachMetricRow(ctx context.Context, runID string, keys []string, from int64, fn func(MetricRow) error) ([]string, error) {
	op := "read metrics of run " + runID + " in"
	if keys == nil {
		var err error
		if keys, err = db.MetricKeys(ctx, runID); err != nil {
			return nil, err
		}
	}
	if len(keys) == 0 {
		return keys, nil
	}
	col := make(map[string]int, len(keys))
	args := []any{runID, from}
	for i, k := range keys {
		col[k] = i
		args = append(args, k)
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT step, key, value, at FROM metrics WHERE run_id = ? AND step > ?
		AND key IN (?`+strings.Repeat(",?", len(keys)-1)+`) ORDER BY step, key`, args...)
	if err != nil {
		return nil, db.wrap(op, err)
	}
	defer rows.Close()
	var cur *MetricRow
	flush := func() error {
		if cur == nil {
			return nil
		}
		r := *cur
		cur = nil
		return fn(r)
	}
	for rows.Next() {
		var step int64
		var key string
		var v sql.NullFloat64
		var at sql.NullString
		if err := rows.Scan(&step, &key, &v, &at); err != nil {
			return nil, db.wrap(op, err)
		}
		if cur != nil && cur.Step != step {
			if err := flush(); err != nil {
				return nil, err
			}
		}
		if cur == nil {
			cur = &MetricRow{Step: step, At: parseTime(at), Values: make([]float64, len(keys)), Logged: make([]bool, len(keys))}
			for i := range cur.Values {
				cur.Values[i] = math.NaN()
			}
		}
		i := col[key]
		cur.Values[i], cur.Logged[i] = nullNaN(v), true
	}
	if err := rows.Err(); err != nil {
		return nil, db.wrap(op, err)
	}
	return keys, flush()
}
