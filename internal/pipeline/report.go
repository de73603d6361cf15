package pipeline

import (
	"context"
	"fmt"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/probe"
	"github.com/natssl/natssl/report"
)

// ReportOptions choose the runs a report compares.
type ReportOptions struct {
	DB         string   // the tracker database; "" means run.db of the config. It must exist.
	Runs       []string // run references (see experiments.DB.ResolveRun), in this order
	All        bool     // every run of the tracker that is not archived
	Name       string   // the runs whose name matches this glob pattern
	Baseline   string   // the run the others are compared with; "" means the first
	Full       bool     // every config key, not only those that differ
	Classifier string   // the probe classifier whose evaluations are compared; "" means linearsvc
}

// Report gathers the runs o names from the tracker into a comparison.
func Report(ctx context.Context, cfg *configs.Config, o ReportOptions) (*report.Report, error) {
	if len(o.Runs) == 0 && !o.All && o.Name == "" {
		return nil, refuse("report: no runs given: pass RUN_ID..., --all or --name PATTERN")
	}
	if o.Classifier != "" {
		if _, err := probe.ParseClassifier(o.Classifier); err != nil {
			return nil, &RequestError{Err: fmt.Errorf("report: --classifier: %w", err)}
		}
	}
	db, err := experiments.OpenExisting(ctx, dbPath(cfg, o.DB))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var ids []string
	for _, a := range o.Runs {
		id, err := db.ResolveRun(ctx, a)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	if o.All || o.Name != "" {
		runs, err := db.ListRuns(ctx, experiments.ListOptions{Name: o.Name})
		if err != nil {
			return nil, err
		}
		if len(runs) == 0 && o.Name != "" {
			return nil, fmt.Errorf("report: no run in %s has a name matching %q", db.Path(), o.Name)
		}
		if len(runs) == 0 {
			return nil, fmt.Errorf("report: no runs in %s", db.Path())
		}
		for _, r := range runs {
			ids = append(ids, r.ID)
		}
	}
	var baseline string
	if o.Baseline != "" {
		if baseline, err = db.ResolveRun(ctx, o.Baseline); err != nil {
			return nil, err
		}
	}
	return report.Build(ctx, db, ids, report.Options{Baseline: baseline, Full: o.Full, Classifier: o.Classifier})
}
