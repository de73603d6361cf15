package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/internal/regfile"
	"github.com/natssl/natssl/probe"
	"github.com/natssl/natssl/trainer"
)

// EvalOptions say what Evaluate scores, on which suite, and where the results go.
type EvalOptions struct {
	DB string // the tracker database; "" means run.db of the config
	// What is scored, exactly one of: a checkpoint file; a run's latest checkpoint (an id or
	// unique prefix; see LatestCheckpoint); a freshly initialised encoder of the config's model
	// and seed; a features file (.npy beside its .ids.txt).
	Checkpoint, Run string
	RandomInit      bool
	Features        string
	// Suite is which suite of the config is scored, and the name its results are recorded
	// under: "" or "newt", the evaluation suite (eval.newt_csv, eval.images); "val", the
	// validation suite (eval.val_csv, eval.val_images) that sweeps are judged on.
	Suite string
	// NeWT and Images name the suite's labels CSV and images instead of the config's.
	NeWT, Images string
	Classifier   string // "" means eval.classifier
	SkipMissing  bool   // go on without the suite's images that are missing
	FeaturesOut  string // also write the features as FILE.npy and FILE.ids.txt
	Workers      int    // feature-extraction and fitting goroutines; 0: every core
	Command      string // recorded with a run created for the results
}

// EvalResult is a scored evaluation and where it was recorded. Its JSON form is natssl eval
// --json's line.
type EvalResult struct {
	RunID          string  `json:"run_id"`
	CheckpointStep int64   `json:"checkpoint_step"`
	Source         string  `json:"source"` // the checkpoint path, "random init ...", or the features file
	ImageSize      int     `json:"-"`      // the side the features were extracted at (0 for a features file)
	FeaturesS      float64 `json:"features_s"`
	FitS           float64 `json:"fit_s"`
	*probe.Results
}

// Evaluate scores an encoder with the NeWT linear probe on cfg's augment normalisation at
// eval.image_size, and records the results in the tracker: against the checkpoint's run and
// step when the tracker knows the run, else as a run of its own (a random-init encoder, a
// features file, a checkpoint trained elsewhere).
func Evaluate(ctx context.Context, cfg *configs.Config, o EvalOptions, obs Observer) (*EvalResult, error) {
	obs = orDiscard(obs)
	kind, err := o.resolve(cfg)
	if err != nil {
		return nil, err
	}
	var (
		s      *suite
		feats  *probe.Features
		target *evalTarget
	)
	if o.Features != "" {
		ps, err := probe.LoadSuite(o.NeWT)
		if err != nil {
			return nil, err
		}
		if feats, err = probe.ReadNPY(o.Features); err != nil {
			return nil, err
		}
		s = &suite{Suite: ps}
		target = &evalTarget{runName: cfg.Run.Name + "-features", kind: "features", source: o.Features}
	}
	db, err := experiments.Open(ctx, dbPath(cfg, o.DB))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	res := &EvalResult{}
	if feats == nil {
		if s, err = loadSuite(ctx, o.NeWT, o.Images, o.SkipMissing, obs); err != nil {
			return nil, err
		}
		if target, err = openTarget(ctx, db, cfg, o, obs); err != nil {
			return nil, err
		}
		start := time.Now()
		if feats, err = extractFeatures(ctx, cfg, target.enc, s, o.Workers, obs); err != nil {
			return nil, err
		}
		res.FeaturesS, res.ImageSize = time.Since(start).Seconds(), cfg.Eval.ImageSize
	}
	if o.FeaturesOut != "" {
		if err := probe.WriteNPY(o.FeaturesOut, feats); err != nil {
			return nil, err
		}
		obs.Notice(fmt.Sprintf("features: %s (%d x %d), ids in %s", o.FeaturesOut, len(feats.IDs), feats.Dim, probe.IDsPath(o.FeaturesOut)))
	}
	start := time.Now()
	if res.Results, err = probe.Evaluate(ctx, s.Suite, feats, probe.Options{Classifier: kind, Workers: o.Workers}); err != nil {
		return nil, err
	}
	res.FitS = time.Since(start).Seconds()
	hash, err := fileSHA256(o.NeWT)
	if err != nil {
		return nil, err
	}
	ev := experiments.Evaluation{CheckpointStep: target.step, CheckpointPath: target.checkpoint, Suite: o.Suite,
		SuitePath: absPath(o.NeWT), SuiteSHA256: hash, Images: absPath(o.Images), Classifier: string(kind)}
	if err := record(ctx, db, cfg, target, ev, res.Results, o.Command); err != nil {
		return nil, err
	}
	res.RunID, res.CheckpointStep, res.Source = target.runID, target.step, target.source
	return res, nil
}

// resolve fills the options' defaults from cfg and refuses what cannot be run.
func (o *EvalOptions) resolve(cfg *configs.Config) (probe.Classifier, error) {
	n := 0
	for _, set := range []bool{o.Checkpoint != "", o.Run != "", o.RandomInit, o.Features != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return "", refuse("eval: give exactly one of --checkpoint PATH, --run RUN_ID, --random-init, --features FILE.npy")
	}
	switch o.Suite {
	case "":
		o.Suite = experiments.SuiteNeWT
	case experiments.SuiteNeWT, experiments.SuiteValidation:
	default:
		return "", refuse("eval: unknown suite %q (want %s or %s)", o.Suite, experiments.SuiteNeWT, experiments.SuiteValidation)
	}
	o.NeWT, o.Images = suitePaths(cfg, o.Suite, o.NeWT, o.Images)
	if o.Classifier == "" {
		o.Classifier = cfg.Eval.Classifier
	}
	kind, err := probe.ParseClassifier(o.Classifier)
	if err != nil {
		return "", &RequestError{Err: err}
	}
	if o.Suite == experiments.SuiteValidation && o.NeWT == "" {
		return "", refuse("eval: no validation suite: set eval.val_csv and eval.val_images")
	}
	if o.NeWT == "" || (o.Images == "" && o.Features == "") {
		return "", refuse("eval: no suite: give --newt CSV and --images DIR|TAR.gz (or set eval.newt_csv and eval.images)")
	}
	return kind, nil
}

// evalTarget is what is being scored and where its results are recorded.
type evalTarget struct {
	enc        *trainer.Encoder // nil when scoring a features file
	runID      string           // "" for a run to create, named runName and tagged kind
	runName    string
	kind       string
	step       int64
	source     string
	checkpoint string // the checkpoint file scored; "" for a random init or features
}

// openTarget loads the encoder the options name and finds the run and step to record against.
func openTarget(ctx context.Context, db *experiments.DB, cfg *configs.Config, o EvalOptions, obs Observer) (*evalTarget, error) {
	if o.RandomInit {
		enc, err := trainer.NewEncoder(cfg.Model, cfg.Data.ImageSize, cfg.Run.Seed)
		if err != nil {
			return nil, err
		}
		return &evalTarget{enc: enc, runName: cfg.Run.Name + "-random-init", kind: "random-init",
			source: fmt.Sprintf("random init, %s seed %d", cfg.Model.Backbone, cfg.Run.Seed)}, nil
	}
	var c *trainer.Checkpoint
	var err error
	if o.Run != "" {
		id, rerr := db.ResolveRun(ctx, o.Run)
		if rerr != nil {
			return nil, rerr
		}
		c, err = LatestCheckpoint(ctx, db, cfg, id, obs)
		if err != nil {
			err = fmt.Errorf("eval: %w", err)
		}
	} else {
		c, err = trainer.ReadCheckpoint(o.Checkpoint)
	}
	if err != nil {
		return nil, err
	}
	enc, _, err := c.Encoder()
	if err != nil {
		return nil, err
	}
	t := &evalTarget{enc: enc, step: c.Header.Step, source: c.Path, checkpoint: absPath(c.Path)}
	id, err := db.ResolveRun(ctx, c.Header.RunID)
	switch {
	case err == nil && c.Header.RunID != "":
		t.runID = id
	case c.Header.RunID == "" || errors.Is(err, experiments.ErrNotFound):
		// Trained elsewhere (another tracker, a SageMaker job): a run of its own.
		t.runName = strings.TrimSuffix(filepath.Base(c.Path), filepath.Ext(c.Path))
		t.kind = "checkpoint"
	default:
		return nil, err
	}
	return t, nil
}

// record stores the results as evaluation ev of target's run (its suite names the rows), creating
// (and finishing) a run of its own when the target has none.
func record(ctx context.Context, db *experiments.DB, cfg *configs.Config, target *evalTarget, ev experiments.Evaluation, res *probe.Results, command string) error {
	var created *experiments.Run
	if target.runID == "" {
		yaml, err := cfg.YAML()
		if err != nil {
			return err
		}
		created, err = db.CreateRun(ctx, experiments.RunSpec{Name: target.runName, ConfigYAML: string(yaml),
			Command: commandLine(command), Seed: cfg.Run.Seed, Params: cfg.Flatten(),
			Tags: map[string]string{"kind": target.kind, "source": target.source}})
		if err != nil {
			return err
		}
		target.runID = created.ID()
	}
	ev.RunID = target.runID
	_, err := db.AddEvaluation(ctx, ev, evalRows(res, ev.Suite, target.step), evalOutcomes(res, ev.Suite, target.step))
	if created == nil {
		return err
	}
	status, msg := experiments.StatusFinished, ""
	if err != nil {
		status, msg = experiments.StatusFailed, err.Error()
	}
	return joinLine(err, created.Finish(ctx, status, msg))
}

// evalRows are the tracker rows of a result: test accuracy and the chosen C per task.
func evalRows(res *probe.Results, suite string, step int64) []experiments.Eval {
	var rows []experiments.Eval
	for _, t := range res.Tasks {
		row := experiments.Eval{CheckpointStep: step, Suite: suite, Task: t.Task, Cluster: t.Cluster,
			Subcluster: t.Subcluster, Metric: experiments.MetricAccuracy, Value: t.Accuracy}
		rows = append(rows, row)
		row.Metric, row.Value = "C", t.C
		rows = append(rows, row)
	}
	return rows
}

// evalOutcomes are the tracker rows of every test image's prediction, which reports resample
// for their intervals and paired comparisons.
func evalOutcomes(res *probe.Results, suite string, step int64) []experiments.Outcome {
	var rows []experiments.Outcome
	for _, t := range res.Tasks {
		for _, p := range t.Predictions {
			rows = append(rows, experiments.Outcome{CheckpointStep: step, Suite: suite, Task: t.Task,
				Image: p.ID, Label: p.Label, Predicted: p.Predicted})
		}
	}
	return rows
}

// fileSHA256 is the hex SHA-256 of a file's content: what an evaluation records of its suite,
// so that two evaluations on files of the same name but different content are told apart.
func fileSHA256(path string) (string, error) {
	f, err := regfile.Open(path) // a named pipe or a device is refused, never waited on
	if err != nil {
		return "", fmt.Errorf("eval: hash suite %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, regfile.LimitReader(f, path, probe.MaxSuiteBytes)); err != nil {
		return "", fmt.Errorf("eval: hash suite %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// absPath is p made absolute, so that the tracker's records (an export, an evaluation's
// suite and checkpoint) name the file from any folder; p itself when empty, a URL, or when
// that fails.
func absPath(p string) string {
	if p == "" || strings.Contains(p, "://") {
		return p
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
