package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/natssl/natssl/augment"
	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/probe"
	"github.com/natssl/natssl/trainer"
)

func init() { addCommand(newEvalCmd) }

// evalOptions are the flags of `natssl eval`.
type evalOptions struct {
	Checkpoint, Run string
	RandomInit      bool
	Features        string // score this .npy (with its .ids.txt) instead of extracting features
	NeWT, Images    string // default: eval.newt_csv, eval.images
	FeaturesOut     string
	Classifier      string // default: eval.classifier
	SkipMissing     bool
	JSON            bool
	Workers         int
}

func newEvalCmd(e *env) *cobra.Command {
	var o evalOptions
	cmd := &cobra.Command{
		Use:   "eval (--checkpoint PATH | --run RUN_ID | --random-init) [--newt CSV] [--images DIR|TAR.gz]",
		Short: "Score an encoder with the NeWT linear probe and record the results with its run",
		Long: `Extracts frozen features of the suite's images (resized and centre-cropped to eval.image_size,
normalised as in training) and runs the NeWT protocol per task: standard scaling, L2 normalisation,
a linear SVM (squared hinge, L2, primal, tol 1e-5, 1000 iterations) with C chosen by 3-fold
stratified cross-validation, refit, test accuracy. The results go to the tracker's evals table
against the run and checkpoint step; a --random-init evaluation is recorded as a run of its own.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			n := 0
			for _, set := range []bool{o.Checkpoint != "", o.Run != "", o.RandomInit, o.Features != ""} {
				if set {
					n++
				}
			}
			if n != 1 {
				return usageErr(errors.New("eval: give exactly one of --checkpoint PATH, --run RUN_ID, --random-init, --features FILE.npy"))
			}
			return runEval(cmd.Context(), e, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Checkpoint, "checkpoint", "", "checkpoint file to evaluate")
	f.StringVar(&o.Run, "run", "", "evaluate the newest checkpoint of this run (id or unique prefix)")
	f.BoolVar(&o.RandomInit, "random-init", false, "evaluate a freshly initialised encoder (model and seed from the config)")
	f.StringVar(&o.Features, "features", "", "score precomputed features (FILE.npy + FILE.ids.txt, as --features-out writes them); recorded as a run of its own")
	f.StringVar(&o.NeWT, "newt", "", "NeWT labels CSV (default: eval.newt_csv)")
	f.StringVar(&o.Images, "images", "", "folder of <id>.jpg or a .tar/.tar.gz of them (default: eval.images)")
	f.StringVar(&o.FeaturesOut, "features-out", "", "also write the features as FILE.npy (float32) and FILE.ids.txt")
	f.StringVar(&o.Classifier, "classifier", "", "linearsvc or logreg (default: eval.classifier)")
	f.BoolVar(&o.SkipMissing, "skip-missing", false, "go on without the suite's images that are missing")
	f.BoolVar(&o.JSON, "json", false, "print the results as one JSON object on the last line")
	f.IntVar(&o.Workers, "workers", 0, "feature-extraction and fitting goroutines (0: every core)")
	return cmd
}

// evalTarget is what is being scored and where its results are recorded.
type evalTarget struct {
	enc     *trainer.Encoder // nil when scoring a features file
	runID   string           // "" for a run to create, named runName and tagged kind
	runName string
	kind    string
	step    int64
	source  string // for messages: the checkpoint path, "random init ...", the features file
}

func runEval(ctx context.Context, e *env, o evalOptions) error {
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	o.NeWT, o.Images = suitePaths(cfg, o.NeWT, o.Images)
	if o.Classifier == "" {
		o.Classifier = cfg.Eval.Classifier
	}
	kind, err := probe.ParseClassifier(o.Classifier)
	if err != nil {
		return usageErr(err)
	}
	if o.NeWT == "" || (o.Images == "" && o.Features == "") {
		return usageErr(errors.New("eval: no suite: give --newt CSV and --images DIR|TAR.gz (or set eval.newt_csv and eval.images)"))
	}
	var (
		suite  *probe.Suite
		feats  *probe.Features
		target *evalTarget
	)
	featSec := 0.0
	if o.Features != "" {
		if suite, err = probe.LoadSuite(o.NeWT); err != nil {
			return err
		}
		if feats, err = probe.ReadNPY(o.Features); err != nil {
			return err
		}
		target = &evalTarget{runName: cfg.Run.Name + "-features", kind: "features", source: o.Features}
	}
	db, err := experiments.Open(ctx, e.dbPath(cfg))
	if err != nil {
		return err
	}
	defer db.Close()
	if feats == nil {
		var images *probe.Images
		if suite, images, err = loadSuite(ctx, e, o.NeWT, o.Images, o.SkipMissing); err != nil {
			return err
		}
		if target, err = openTarget(ctx, db, cfg, o); err != nil {
			return err
		}
		start := time.Now()
		if feats, err = extractFeatures(ctx, e, cfg, target.enc, suite, images, o.Workers); err != nil {
			return err
		}
		featSec = time.Since(start).Seconds()
	}
	if o.FeaturesOut != "" {
		if err := probe.WriteNPY(o.FeaturesOut, feats); err != nil {
			return err
		}
		fmt.Fprintf(e.Stderr, "features: %s (%d x %d), ids in %s\n", o.FeaturesOut, len(feats.IDs), feats.Dim, probe.IDsPath(o.FeaturesOut))
	}
	start := time.Now()
	res, err := probe.Evaluate(ctx, suite, feats, probe.Options{Classifier: kind, Workers: o.Workers})
	if err != nil {
		return err
	}
	fitSec := time.Since(start).Seconds()
	if err := record(ctx, db, cfg, target, res); err != nil {
		return err
	}
	if err := res.WriteTable(e.Stdout); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "recorded against run %s, checkpoint step %d (%s); features %.1fs, fitting %.1fs\n",
		target.runID, target.step, target.source, featSec, fitSec)
	if o.JSON {
		b, err := json.Marshal(struct {
			RunID          string  `json:"run_id"`
			CheckpointStep int64   `json:"checkpoint_step"`
			Source         string  `json:"source"`
			FeaturesS      float64 `json:"features_s"`
			FitS           float64 `json:"fit_s"`
			*probe.Results
		}{target.runID, target.step, target.source, featSec, fitSec, res})
		if err != nil {
			return err
		}
		fmt.Fprintln(e.Stdout, string(b))
	}
	return nil
}

// record stores the results in the tracker against target's run, creating (and finishing)
// a run of its own when the target has none.
func record(ctx context.Context, db *experiments.DB, cfg *configs.Config, target *evalTarget, res *probe.Results) error {
	var created *experiments.Run
	if target.runID == "" {
		var err error
		created, err = db.CreateRun(ctx, experiments.RunSpec{
			Name:       target.runName,
			ConfigYAML: configYAML(cfg),
			Command:    strings.Join(os.Args, " "),
			Seed:       cfg.Run.Seed,
			Params:     cfg.Flatten(),
			Tags:       map[string]string{"kind": target.kind, "source": target.source},
		})
		if err != nil {
			return err
		}
		target.runID = created.ID()
	}
	if err := db.RecordEvaluation(ctx, target.runID, evalRows(res, target.step), evalOutcomes(res, target.step)); err != nil {
		if created != nil {
			created.Finish(ctx, experiments.StatusFailed, err.Error())
		}
		return err
	}
	if created != nil {
		return created.Finish(ctx, experiments.StatusFinished, "")
	}
	return nil
}

// loadSuite validates the labels CSV, then reads the images it names; missing images are an
// error unless skipMissing, in which case the suite goes on without them.
func loadSuite(ctx context.Context, e *env, csvPath, imagesPath string, skipMissing bool) (*probe.Suite, *probe.Images, error) {
	suite, err := probe.LoadSuite(csvPath)
	if err != nil {
		return nil, nil, err
	}
	images, err := probe.ReadImages(ctx, imagesPath, suite.IDs)
	var missing *probe.MissingError
	if errors.As(err, &missing) && skipMissing {
		drop := make(map[string]bool, len(missing.IDs))
		for _, id := range missing.IDs {
			drop[id] = true
		}
		fmt.Fprintf(e.Stderr, "eval: going on without %d missing images (first: %s)\n", len(missing.IDs), missing.IDs[0])
		suite, err = suite.Without(drop)
	}
	if err != nil {
		return nil, nil, err
	}
	return suite, images, nil
}

// openTarget loads the encoder the options name and finds the run and step to record against.
func openTarget(ctx context.Context, db *experiments.DB, cfg *configs.Config, o evalOptions) (*evalTarget, error) {
	switch {
	case o.RandomInit:
		enc, err := trainer.NewEncoder(cfg.Model, cfg.Data.ImageSize, cfg.Run.Seed)
		if err != nil {
			return nil, err
		}
		return &evalTarget{enc: enc, runName: cfg.Run.Name + "-random-init", kind: "random-init",
			source: fmt.Sprintf("random init, %s seed %d", cfg.Model.Backbone, cfg.Run.Seed)}, nil
	case o.Run != "":
		id, err := db.ResolveRun(ctx, o.Run)
		if err != nil {
			return nil, err
		}
		ckpts, err := db.Checkpoints(ctx, id)
		if err != nil {
			return nil, err
		}
		// The newest checkpoint still on disk (older ones are pruned by train.keep_checkpoints).
		for k := len(ckpts) - 1; k >= 0; k-- {
			if _, err := os.Stat(ckpts[k].Path); err != nil {
				continue
			}
			enc, _, err := trainer.LoadEncoder(ckpts[k].Path)
			if err != nil {
				return nil, err
			}
			return &evalTarget{enc: enc, runID: id, step: ckpts[k].Step, source: ckpts[k].Path}, nil
		}
		return nil, fmt.Errorf("eval: run %s has no checkpoint file left (%d recorded)", id, len(ckpts))
	default:
		c, err := trainer.ReadCheckpoint(o.Checkpoint)
		if err != nil {
			return nil, err
		}
		enc, _, err := trainer.LoadEncoder(o.Checkpoint)
		if err != nil {
			return nil, err
		}
		t := &evalTarget{enc: enc, step: c.Header.Step, source: o.Checkpoint}
		id, err := db.ResolveRun(ctx, c.Header.RunID)
		switch {
		case err == nil && c.Header.RunID != "":
			t.runID = id
		case c.Header.RunID == "" || errors.Is(err, experiments.ErrNotFound):
			// Trained elsewhere (another tracker, a SageMaker job): a run of its own.
			t.runName = strings.TrimSuffix(filepath.Base(o.Checkpoint), filepath.Ext(o.Checkpoint))
			t.kind = "checkpoint"
		default:
			return nil, err
		}
		return t, nil
	}
}

// extractFeatures turns the suite's images into features on every core: one encoder clone and
// one augment worker per goroutine.
func extractFeatures(ctx context.Context, e *env, cfg *configs.Config, enc *trainer.Encoder, suite *probe.Suite, images *probe.Images, workers int) (*probe.Features, error) {
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	size := cfg.Eval.ImageSize
	if size <= 0 {
		size = cfg.Data.ImageSize
	}
	pipe, err := augment.New(cfg.Augment, size)
	if err != nil {
		return nil, err
	}
	ws := make([]probe.Worker, workers)
	for i := range ws {
		w := pipe.NewWorker()
		defer w.Close()
		ei := enc
		if i > 0 {
			if ei, err = enc.Clone(); err != nil {
				return nil, err
			}
		}
		ws[i] = probe.Worker{Encoder: ei, Preprocessor: w}
	}
	// On a terminal the count is redrawn in place; in a log, a line at every quarter.
	tty := false
	if f, ok := e.Stderr.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
		tty = true
	}
	next := 0.25
	start := time.Now()
	return probe.Extract(ctx, suite.IDs, images, probe.ExtractOptions{ImageSize: size, Workers: ws,
		Progress: func(done, total int) {
			rate := float64(done) / time.Since(start).Seconds()
			switch {
			case tty:
				fmt.Fprintf(e.Stderr, "\rfeatures: %d/%d images, %.0f images/s ", done, total, rate)
				if done == total {
					fmt.Fprintln(e.Stderr)
				}
			case float64(done) >= next*float64(total):
				fmt.Fprintf(e.Stderr, "features: %d/%d images, %.0f images/s\n", done, total, rate)
				next = float64(done)/float64(total) + 0.25
			}
		}})
}

// evalRows are the tracker rows of a result: test accuracy and chosen C per task.
func evalRows(res *probe.Results, step int64) []experiments.Eval {
	var rows []experiments.Eval
	for _, t := range res.Tasks {
		row := experiments.Eval{CheckpointStep: step, Suite: experiments.SuiteNeWT, Task: t.Task, Cluster: t.Cluster,
			Subcluster: t.Subcluster, Metric: experiments.MetricAccuracy, Value: t.Accuracy}
		rows = append(rows, row)
		row.Metric, row.Value = "C", t.C
		rows = append(rows, row)
	}
	return rows
}

// evalOutcomes are the tracker rows of every test image's prediction, which reports resample
// for confidence intervals.
func evalOutcomes(res *probe.Results, step int64) []experiments.Outcome {
	var rows []experiments.Outcome
	for _, t := range res.Tasks {
		for _, p := range t.Predictions {
			rows = append(rows, experiments.Outcome{CheckpointStep: step, Suite: experiments.SuiteNeWT, Task: t.Task,
				Image: p.ID, Label: p.Label, Predicted: p.Predicted})
		}
	}
	return rows
}

func configYAML(cfg *configs.Config) string {
	b, err := cfg.YAML()
	if err != nil {
		return ""
	}
	return string(b)
}

// suitePaths fills the NeWT labels CSV and images from the config's eval section where the
// flags left them empty.
func suitePaths(cfg *configs.Config, newt, images string) (string, string) {
	if newt == "" {
		newt = cfg.Eval.NewtCSV
	}
	if images == "" {
		images = cfg.Eval.Images
	}
	return newt, images
}
