package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/loader"
	"github.com/natssl/natssl/trainer"
)

func init() { addCommand(newTrainCmd) }

// trainOptions are natssl train's own flags.
type trainOptions struct {
	Resume      string
	ResumeForce bool
	JSON        bool
}

func newTrainCmd(e *env) *cobra.Command {
	var o trainOptions
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Train a SimCLR encoder (checkpoints and metrics go to run.out_dir and the tracker)",
		Long: `natssl train runs SimCLR on data.source with the model and schedule of the config,
one data-parallel replica per entry of train.devices. Checkpoints are written every
train.checkpoint_every steps and at the end to <run.out_dir>/<run id>/checkpoints, and the
run (config, metrics, checkpoints) is recorded in the tracker (--db, default run.db).

SIGINT or SIGTERM writes a checkpoint and marks the run KILLED; a second signal exits at once.
--resume continues a run: "auto" (the newest run of this run.name that stopped short of its
last step; a new run if there is none), a run id (or
a unique prefix), or a checkpoint file. A config that changes the maths is refused unless
--resume-force is given.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			stopSecond := exitOnSecondSignal(e.Stderr)
			defer stopSecond()
			if ok, err := e.trainInJob(ctx, func(ctx context.Context, cfg *configs.Config, j jobTrain) (string, error) {
				res, err := e.runTraining(ctx, cfg, TrainRun{Resume: j.Resume, Shard: j.Shard, Shards: j.Shards, Command: commandLine()})
				if res == nil {
					return "", err
				}
				return res.Checkpoint, err
			}); ok {
				return err
			}
			cfg, err := e.loadConfig()
			if err != nil {
				return err
			}
			_, err = e.runTraining(ctx, cfg, TrainRun{Resume: o.Resume, Force: o.ResumeForce, Command: commandLine(), JSON: o.JSON})
			return err
		},
	}
	cmd.Flags().StringVar(&o.Resume, "resume", "", "continue a run: auto, RUN_ID (or prefix), or a checkpoint file")
	cmd.Flags().BoolVar(&o.ResumeForce, "resume-force", false, "resume even if the config changes the maths")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the finished run as one JSON object on the last line of stdout")
	return cmd
}

// exitOnSecondSignal makes a second SIGINT/SIGTERM end the process at once (the first one
// cancels the command's context, and training stops after writing a checkpoint).
func exitOnSecondSignal(stderr io.Writer) (stop func()) {
	c := make(chan os.Signal, 2)
	signal.Notify(c, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-c:
		case <-done:
			return
		}
		fmt.Fprintln(stderr, "natssl: stopping after this step to write a checkpoint (signal again to exit at once)")
		select {
		case <-c:
			fmt.Fprintln(stderr, "natssl: second signal: exiting without a checkpoint")
			os.Exit(130)
		case <-done:
		}
	}()
	return func() {
		signal.Stop(c)
		close(done)
	}
}

func commandLine() string { return strings.Join(os.Args, " ") }

// TrainRun says how a training run starts; runTraining is what natssl train and a SageMaker
// job (train_sagemaker.go) both call.
type TrainRun struct {
	// Resume is "", "auto", a run id (or prefix), or a checkpoint path.
	Resume string
	Force  bool
	// Shard and Shards split the data between hosts (default 0 of 1).
	Shard, Shards int
	// CheckpointDir overrides <run.out_dir>/<run id>/checkpoints.
	CheckpointDir string
	Command       string
	// JSON prints the finished run as one JSON line on stdout, for scripts (make demo).
	JSON bool
	// Tags are recorded with a new run (a sweep's trial: sweep=<id>, trial=<n>).
	Tags map[string]string
}

// runTraining trains cfg as a tracked run: it opens the tracker and the data, creates (or
// reopens, to resume) the run, trains, and marks the run FINISHED, KILLED (a signal) or
// FAILED. The result holds the final checkpoint.
func (e *env) runTraining(ctx context.Context, cfg *configs.Config, o TrainRun) (*trainer.Result, error) {
	if o.Shards > 1 {
		// Hosts would each train their own model on their shard: refuse rather than do that.
		return nil, usageErr(fmt.Errorf("train: %d hosts: training across hosts needs a cross-host gradient all-reduce, which natssl does not have; use one host (sagemaker.instance_count 1) with one replica per device in train.devices", o.Shards))
	}
	db, err := experiments.Open(ctx, e.dbPath(cfg))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	resume, runID, err := e.findResume(ctx, db, cfg, o.Resume)
	if err != nil {
		return nil, err
	}
	if resume != nil && !o.Force {
		// Refuse before the run is touched; the trainer checks again.
		if d := trainer.MathDiff(resume.Header, cfg); len(d) > 0 {
			return nil, usageErr(&trainer.MismatchError{Path: resume.Path, Diffs: d})
		}
	}
	var run *experiments.Run
	if runID != "" {
		run, err = db.ReopenRun(ctx, runID)
	} else {
		yaml, yerr := cfg.YAML()
		if yerr != nil {
			return nil, yerr
		}
		run, err = db.CreateRun(ctx, experiments.RunSpec{Name: cfg.Run.Name, ConfigYAML: string(yaml),
			Command: o.Command, Seed: cfg.Run.Seed, Params: cfg.Flatten(), Tags: o.Tags})
	}
	if err != nil {
		return nil, err
	}
	stopBeat := run.KeepAlive(context.WithoutCancel(ctx), 10*time.Second)
	res, err := e.trainRun(ctx, cfg, o, run, resume)
	stopBeat()
	status, msg := experiments.StatusFinished, ""
	switch {
	case err != nil && ctx.Err() != nil && res != nil:
		status, msg = experiments.StatusKilled, "stopped by a signal at step "+fmt.Sprint(res.Step)
	case err != nil:
		status, msg = experiments.StatusFailed, err.Error()
	}
	if ferr := run.Finish(context.WithoutCancel(ctx), status, msg); ferr != nil {
		return res, errors.Join(err, ferr)
	}
	if err != nil {
		return res, fmt.Errorf("train: run %s %s: %w", run.ID(), strings.ToLower(string(status)), err)
	}
	fmt.Fprintf(e.Stderr, "natssl: run %s finished (%s): %d steps, loss %.4f, %s; checkpoint %s\n",
		run.ID(), res.Reason, res.Step, res.Loss, res.Elapsed.Round(time.Second), res.Checkpoint)
	if o.JSON {
		b, err := json.Marshal(struct {
			RunID      string  `json:"run_id"`
			Steps      int64   `json:"steps"`
			Loss       float64 `json:"loss"`
			Reason     string  `json:"reason"`
			ElapsedS   float64 `json:"elapsed_s"`
			Checkpoint string  `json:"checkpoint"`
		}{run.ID(), int64(res.Step), float64(res.Loss), string(res.Reason), res.Elapsed.Seconds(), res.Checkpoint})
		if err != nil {
			return res, err
		}
		fmt.Fprintln(e.Stdout, string(b))
	}
	return res, nil
}

// trainRun opens the data and runs the trainer for an open tracked run.
func (e *env) trainRun(ctx context.Context, cfg *configs.Config, o TrainRun, run *experiments.Run, resume *trainer.Checkpoint) (*trainer.Result, error) {
	src, err := loader.Open(ctx, cfg.Data)
	if err != nil {
		if errors.Is(err, loader.ErrNoSource) && strings.HasPrefix(filepath.ToSlash(cfg.Data.Source), "data/fmnist/") {
			err = fmt.Errorf("%w\n  create the demo data with: natssl data fashion-mnist --out data/fmnist", err)
		}
		return nil, err
	}
	defer src.Close()
	var start loader.Position
	if resume != nil {
		start = loader.Position(resume.Header.Position)
	}
	l, err := loader.New(ctx, src, loader.Options{
		Seed: cfg.Run.Seed, ImageSize: cfg.Data.ImageSize, BatchSize: cfg.Data.BatchSize,
		Workers: cfg.Data.Workers, ShuffleBuffer: cfg.Data.ShuffleBuffer,
		Shard: o.Shard, Shards: max(o.Shards, 1), Epochs: cfg.Train.Epochs, Start: start, Augment: cfg.Augment,
	})
	if err != nil {
		return nil, err
	}
	defer l.Close()
	total := int64(cfg.Train.Steps)
	if cfg.Train.Epochs > 0 {
		n, err := l.Len(ctx)
		if err != nil {
			return nil, err
		}
		total = n / int64(cfg.Data.BatchSize) * int64(cfg.Train.Epochs)
		if total == 0 {
			return nil, usageErr(fmt.Errorf("train: %d images per epoch make no full batch of data.batch_size %d", n, cfg.Data.BatchSize))
		}
	}
	dir := o.CheckpointDir
	if dir == "" {
		dir = filepath.Join(cfg.Run.OutDir, run.ID(), "checkpoints")
	}
	fmt.Fprintf(e.Stderr, "natssl: run %s: %s %s w=%d, batch %d on %d replica(s) [%s], %d steps; checkpoints in %s\n",
		run.ID(), cfg.Run.Name, cfg.Model.Backbone, cfg.Model.Width, cfg.Data.BatchSize, cfg.Replicas(),
		trainer.BLAS, total, dir)
	prog := newTrainProgress(e.Stderr, total, cfg.Train.LogEvery)
	defer prog.close()
	return trainer.Train(ctx, trainer.Options{
		Config: cfg, Source: &loaderSource{l: l}, Tracker: run, RunID: run.ID(), CheckpointDir: dir,
		TotalSteps: total, Resume: resume, Force: o.Force, OnStep: prog.step, Log: prog.notices(),
	})
}

// findResume resolves --resume to a checkpoint and the run it belongs to ("" when the run
// is not in this tracker: a new run continues from the checkpoint).
func (e *env) findResume(ctx context.Context, db *experiments.DB, cfg *configs.Config, what string) (*trainer.Checkpoint, string, error) {
	skipped := func(p string, err error) {
		fmt.Fprintf(e.Stderr, "natssl: skipping checkpoint %s: %v\n", p, err)
	}
	switch {
	case what == "":
		return nil, "", nil
	case what == "auto":
		// The newest run of this name whose newest valid checkpoint is short of its last
		// step: killed, failed, crashed, or stopped by train.time_limit.
		runs, err := db.ListRuns(ctx, experiments.ListOptions{Name: globEscape(cfg.Run.Name)})
		if err != nil {
			return nil, "", err
		}
		for i := len(runs) - 1; i >= 0; i-- { // newest first
			r := runs[i]
			c, err := latestOfRun(ctx, db, cfg, r.ID, skipped)
			if err == nil && c.Header.Step < c.Header.TotalSteps {
				fmt.Fprintf(e.Stderr, "natssl: resuming run %s (%s) from step %d (%s)\n", r.ID, r.Status, c.Header.Step, c.Path)
				return c, r.ID, nil
			}
		}
		fmt.Fprintf(e.Stderr, "natssl: --resume auto: no run named %q left a checkpoint short of its last step; starting a new run\n", cfg.Run.Name)
		return nil, "", nil
	}
	if st, err := os.Stat(what); err == nil && !st.IsDir() {
		c, err := trainer.ReadCheckpoint(what)
		if err != nil {
			return nil, "", err
		}
		id := c.Header.RunID
		if id != "" {
			if _, err := db.ResolveRun(ctx, id); err != nil {
				id = "" // a checkpoint from another tracker: continue it as a new run
			}
		}
		return c, id, nil
	}
	id, err := db.ResolveRun(ctx, what)
	if err != nil {
		return nil, "", usageErr(fmt.Errorf("train: --resume %s: not a checkpoint file, and %w", what, err))
	}
	c, err := latestOfRun(ctx, db, cfg, id, skipped)
	if err != nil {
		return nil, "", err
	}
	fmt.Fprintf(e.Stderr, "natssl: resuming run %s from step %d (%s)\n", id, c.Header.Step, c.Path)
	return c, id, nil
}

// globEscape quotes SQLite GLOB's special characters so that a run name matches itself.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == '*' || r == '?' || r == '[' {
			b.WriteString("[" + string(r) + "]")
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// latestOfRun returns the newest valid checkpoint of a run: in the folder its recorded
// checkpoints are in, else <run.out_dir>/<id>/checkpoints.
func latestOfRun(ctx context.Context, db *experiments.DB, cfg *configs.Config, id string, skipped func(string, error)) (*trainer.Checkpoint, error) {
	dir := filepath.Join(cfg.Run.OutDir, id, "checkpoints")
	cks, err := db.Checkpoints(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(cks) > 0 {
		dir = filepath.Dir(cks[len(cks)-1].Path)
	}
	c, err := trainer.LatestCheckpoint(dir, skipped)
	if err != nil {
		return nil, fmt.Errorf("train: resume run %s: %w", id, err)
	}
	return c, nil
}

// loaderSource adapts a *loader.Loader to trainer.Source.
type loaderSource struct{ l *loader.Loader }

func (s *loaderSource) Next(ctx context.Context) (*trainer.Batch, error) {
	b, err := s.l.Next(ctx)
	if err != nil {
		return nil, err
	}
	return &trainer.Batch{N: b.N, Size: b.Size, Epoch: b.Epoch, Views: b.Views, Release: func() { s.l.Release(b) }}, nil
}

func (s *loaderSource) Position() trainer.Position { return trainer.Position(s.l.Position()) }

// Metrics are the loader's counters logged with the training metrics.
func (s *loaderSource) Metrics() map[string]float64 {
	st := s.l.Stats()
	m := map[string]float64{"loader_images_per_s": st.ImagesPerS, "skipped": float64(st.SkippedTotal())}
	for reason, n := range st.Skipped {
		m["skipped_"+reason] = float64(n)
	}
	return m
}

// trainProgress shows training progress: a bar on a terminal, log lines otherwise.
type trainProgress struct {
	w        io.Writer
	bar      *progressbar.ProgressBar
	logEvery int64
}

func newTrainProgress(w io.Writer, total int64, logEvery int) *trainProgress {
	p := &trainProgress{w: w, logEvery: int64(max(logEvery, 1))}
	if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
		p.bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription("train"),
			progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true), progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionClearOnFinish())
	}
	return p
}

func (p *trainProgress) step(s trainer.StepInfo) {
	if p.bar != nil {
		_ = p.bar.Set64(s.Step)
		p.bar.Describe(fmt.Sprintf("train loss %.4f  %.0f img/s", s.Loss, s.ImagesPerS))
		return
	}
	if s.Step%p.logEvery == 0 || s.Step == s.Total || s.Step == 1 {
		eta := ""
		if s.Step > 0 {
			left := time.Duration(float64(s.Elapsed) / float64(s.Step) * float64(s.Total-s.Step))
			eta = " eta " + left.Round(time.Second).String()
		}
		fmt.Fprintf(p.w, "step %d/%d  epoch %d  loss %.4f  lr %.3g  %.1f img/s  elapsed %s%s\n",
			s.Step, s.Total, s.Epoch, s.Loss, s.LR, s.ImagesPerS, s.Elapsed.Round(time.Second), eta)
	}
}

// notices is where the trainer's notices go: above the bar, or as lines.
func (p *trainProgress) notices() io.Writer {
	if p.bar != nil {
		return io.Discard // checkpoints are in the tracker; lines would break the bar
	}
	return p.w
}

func (p *trainProgress) close() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
