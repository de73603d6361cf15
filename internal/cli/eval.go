package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/probe"
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
		Use:   "eval --features FILE.npy [--newt CSV]",
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
				// --checkpoint, --run and --random-init are wired when trainer.Encoder lands.
				return usageErr(errors.New("eval: give --features FILE.npy"))
			}
			return runEval(cmd.Context(), e, o)
		},
	}
	f := cmd.Flags()
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
	runID   string // "" for a run to create, named runName and tagged kind
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
	if o.NeWT == "" {
		o.NeWT = cfg.Eval.NewtCSV
	}
	if o.Images == "" {
		o.Images = cfg.Eval.Images
	}
	if o.Classifier == "" {
		o.Classifier = cfg.Eval.Classifier
	}
	kind, err := probe.ParseClassifier(o.Classifier)
	if err != nil {
		return usageErr(err)
	}
	if o.NeWT == "" {
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
	if err := db.RecordEvals(ctx, target.runID, evalRows(res, target.step)); err != nil {
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

func configYAML(cfg *configs.Config) string {
	b, err := cfg.YAML()
	if err != nil {
		return ""
	}
	return string(b)
}
