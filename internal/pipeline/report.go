package pipeline

import (
	"context"
	"fmt"
	"strings"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/export"
	"github.com/natssl/natssl/probe"
	"github.com/natssl/natssl/report"
	"github.com/natssl/natssl/sweep"
)

// ReportOptions choose the runs a report compares, or the sweep it shows.
type ReportOptions struct {
	DB         string   // the tracker database; "" means run.db of the config. It must exist.
	Runs       []string // run references (see experiments.DB.ResolveRun), in this order
	All        bool     // every run of the tracker that is not archived
	Name       string   // the runs whose name matches this glob pattern
	Baseline   string   // the run the others are compared with; "" means the first
	Full       bool     // every config key, not only those that differ
	Classifier string   // the probe classifier whose evaluations are compared; "" means linearsvc
	// Sweep is a sweep's id or unique prefix: the report shows its trials instead of runs,
	// each scored by its latest evaluation on the validation suite.
	Sweep string
}

// Report gathers the runs o names from the tracker into a comparison (*report.Report), or a
// sweep's trials into its report (*report.SweepReport).
func Report(ctx context.Context, cfg *configs.Config, o ReportOptions) (report.Document, error) {
	runs := len(o.Runs) > 0 || o.All || o.Name != ""
	switch {
	case o.Sweep != "" && (runs || o.Baseline != "" || o.Classifier != ""):
		return nil, refuse("report: --sweep reports one sweep's trials; it takes no RUN_ID, --all, --name, --baseline or --classifier")
	case o.Sweep == "" && !runs:
		return nil, refuse("report: no runs given: pass RUN_ID..., --all, --name PATTERN or --sweep SWEEP_ID")
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
	if o.Sweep != "" {
		s, err := sweep.Open(ctx, db, o.Sweep)
		if err != nil {
			return nil, err
		}
		rep, err := report.BuildSweep(ctx, db, s, report.SweepOptions{})
		if err != nil {
			return nil, err
		}
		return rep, nil
	}
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
	rep, err := report.Build(ctx, db, ids, report.Options{Baseline: baseline, Full: o.Full, Classifier: o.Classifier,
		Cost: encoderCost})
	if err != nil {
		return nil, err
	}
	return rep, nil
}

// encoderCost is a run's encoder cost at its eval size, from the model and image keys of the
// config its params record; nil for a run whose params do not name its encoder: one that
// scored a features file, or a checkpoint trained elsewhere (recorded with the evaluating
// config, not the checkpoint's), or one recorded without params.
func encoderCost(rec *experiments.RunRecord) (*report.Cost, error) {
	if k := rec.Tags["kind"]; k == "features" || k == "checkpoint" {
		return nil, nil
	}
	cfg, named := configs.Default(), false
	for _, p := range rec.Params {
		if !strings.HasPrefix(p.Key, "model.") && p.Key != "eval.image_size" && p.Key != "data.image_size" || !configs.IsKey(p.Key) {
			continue
		}
		if err := cfg.Set(p.Key, p.Value, "the run's params"); err != nil {
			return nil, err
		}
		named = named || p.Key == "model.backbone"
	}
	if !named {
		return nil, nil
	}
	size := export.EvalImageSize(cfg)
	c, err := export.EncoderCost(cfg.Model, size)
	if err != nil {
		return nil, err
	}
	return &report.Cost{ImageSize: size, Params: c.Params, MFLOPs: c.MFLOPs}, nil
}
