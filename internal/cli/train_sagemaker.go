package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/sagemaker"
	"github.com/natssl/natssl/trainer"
)

// jobTrain is what a SageMaker training job changes in how natssl train runs.
type jobTrain struct {
	// Shard and Shards are the loader's host-level shard: this host's rank and the host count.
	Shard, Shards int
	// Resume is "auto": a spot restart continues from the newest checkpoint the job's
	// checkpoint folder holds (run.out_dir and run.db point there), a first start begins anew.
	// It is a checkpoint path when the restored tracker database was unusable (jobResume).
	Resume string
}

// trainFunc runs one training run of cfg and returns the path of its final checkpoint ("" if
// it wrote none).
type trainFunc func(ctx context.Context, cfg *configs.Config, j jobTrain) (checkpoint string, err error)

// trainInJob is natssl train inside a SageMaker training job. Outside one it returns ok false
// and does nothing. Inside, it reads the job's files under /opt/ml (or SAGEMAKER_BASE_DIR),
// loads the config with the hyperparameters as their layer, points it at the job's channels and
// checkpoint folder, runs train, and then (first host only) scores the final checkpoint on the
// newt channel's suite when there is one and writes the model artefacts; on any failure it
// writes the reason to /opt/ml/output/failure. err is train's error, or the job's.
func (e *env) trainInJob(ctx context.Context, train trainFunc) (ok bool, err error) {
	base, ok := sagemaker.Detect(os.Getenv)
	if !ok {
		return false, nil
	}
	job, err := sagemaker.Open(base)
	if err != nil {
		return true, failJob(&sagemaker.Job{Base: base}, err)
	}
	e.Hyperparameters = job.Hyperparameters
	e.HyperparametersFile = job.HyperparametersFile()
	cfg, err := e.loadConfig()
	if err != nil {
		return true, failJob(job, err)
	}
	if err := job.Apply(cfg); err != nil {
		return true, failJob(job, err)
	}
	if e.Global.DB == "" {
		e.Global.DB = cfg.Run.DB // what later steps (the NeWT evaluation) open, too
	}
	if err := os.MkdirAll(job.RunDir(), 0o755); err != nil {
		return true, failJob(job, fmt.Errorf("sagemaker: checkpoint folder: %w", err))
	}
	// A failure file left by an earlier attempt on this volume must not outlive a success.
	if err := os.Remove(job.FailurePath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return true, failJob(job, fmt.Errorf("sagemaker: remove old failure file: %w", err))
	}
	resume, err := e.jobResume(ctx, job, e.dbPath(cfg))
	if err != nil {
		return true, failJob(job, err)
	}
	shard, shards := job.Shard()
	fmt.Fprintf(e.Stderr, "natssl: SageMaker job at %s: host %s (%d of %d), channels %v, checkpoints in %s\n",
		job.Base, job.CurrentHost, job.Rank()+1, job.HostCount(), job.ChannelNames(), job.RunDir())
	checkpoint, err := train(ctx, cfg, jobTrain{Shard: shard, Shards: shards, Resume: resume})
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("stopped by a signal (a spot interruption or StopTrainingJob); the last checkpoint is in %s: %w", job.RunDir(), err)
		}
		return true, failJob(job, err)
	}
	if !job.Leader() {
		return true, nil
	}
	if _, ok := job.Channels[sagemaker.NewtChannel]; ok && checkpoint != "" {
		// The evaluation adds to the run's record; the trained model is worth exporting
		// without it, so its failure is reported but does not fail the job.
		err := runEval(ctx, e, evalOptions{Checkpoint: checkpoint, NeWT: cfg.Eval.NewtCSV, Images: cfg.Eval.Images})
		if err != nil {
			fmt.Fprintf(e.Stderr, "natssl: NeWT evaluation of %s failed, the model is exported without it: %v\n", checkpoint, err)
		}
	}
	if err := job.ExportModel(ctx, cfg, checkpoint, e.dbPath(cfg)); err != nil {
		return true, failJob(job, err)
	}
	fmt.Fprintf(e.Stderr, "natssl: model artefacts in %s\n", job.ModelDir())
	return true, nil
}

// jobResume chooses how a (re)started job resumes: "auto" (the newest unfinished run in the
// tracker) when the database restored into the checkpoint folder is sound. SageMaker uploads
// that folder file by file while SQLite writes, so after a spot interruption the database can
// come back torn; it is then moved aside, and the newest valid checkpoint file continues the
// training as a new run in a fresh database.
func (e *env) jobResume(ctx context.Context, job *sagemaker.Job, db string) (string, error) {
	bad := sagemaker.CheckDB(ctx, db)
	if bad == nil {
		return "auto", nil
	}
	aside, err := sagemaker.MoveAside(db, "corrupt-"+time.Now().UTC().Format("20060102-150405"))
	if err != nil {
		return "", errors.Join(bad, err)
	}
	fmt.Fprintf(e.Stderr, "natssl: the tracker database restored from the checkpoints is unusable (%v); kept as %s\n", bad, aside)
	var newest *trainer.Checkpoint
	var newestTime time.Time
	err = filepath.WalkDir(job.RunDir(), func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		c, err := trainer.LatestCheckpoint(p, func(path string, err error) {
			fmt.Fprintf(e.Stderr, "natssl: skipping checkpoint %s: %v\n", path, err)
		})
		if err != nil {
			return nil // no valid checkpoint in this folder
		}
		if fi, err := os.Stat(c.Path); err == nil && (newest == nil || fi.ModTime().After(newestTime)) {
			newest, newestTime = c, fi.ModTime()
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("sagemaker: look for checkpoints in %s: %w", job.RunDir(), err)
	}
	if newest == nil {
		return "auto", nil
	}
	fmt.Fprintf(e.Stderr, "natssl: continuing from checkpoint %s (step %d) as a new run\n", newest.Path, newest.Header.Step)
	return newest.Path, nil
}

// failJob records err as the job's FailureReason and returns it, so that natssl exits non-zero
// with the same message on stderr.
func failJob(job *sagemaker.Job, err error) error {
	if werr := job.WriteFailure(err); werr != nil {
		return errors.Join(err, werr)
	}
	return err
}
