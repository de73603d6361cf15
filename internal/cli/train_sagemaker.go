package cli

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/sagemaker"
)

// jobTrain is what a SageMaker training job changes in how natssl train runs.
type jobTrain struct {
	// Shard and Shards are the loader's host-level shard: this host's rank and the host count.
	Shard, Shards int
	// Resume is "auto": a spot restart continues from the newest checkpoint the job's
	// checkpoint folder holds (run.out_dir and run.db point there), a first start begins anew.
	Resume string
}

// trainFunc runs one training run of cfg and returns the path of its final checkpoint ("" if
// it wrote none).
type trainFunc func(ctx context.Context, cfg *configs.Config, j jobTrain) (checkpoint string, err error)

// trainInJob is natssl train inside a SageMaker training job. Outside one it returns ok false
// and does nothing. Inside, it reads the job's files under /opt/ml (or SAGEMAKER_BASE_DIR),
// loads the config with the hyperparameters as their layer, points it at the job's channels and
// checkpoint folder, runs train, and then writes the model artefacts (first host only) or, on
// any failure, the reason to /opt/ml/output/failure. err is train's error, or the job's.
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
	if err := os.MkdirAll(job.CheckpointDir(), 0o755); err != nil {
		return true, failJob(job, fmt.Errorf("sagemaker: checkpoint folder: %w", err))
	}
	// A failure file left by an earlier attempt on this volume must not outlive a success.
	if err := os.Remove(job.FailurePath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return true, failJob(job, fmt.Errorf("sagemaker: remove old failure file: %w", err))
	}
	shard, shards := job.Shard()
	fmt.Fprintf(e.Stderr, "natssl: SageMaker job at %s: host %s (%d of %d), channels %v, checkpoints in %s\n",
		job.Base, job.CurrentHost, job.Rank()+1, job.HostCount(), job.ChannelNames(), job.CheckpointDir())
	checkpoint, err := train(ctx, cfg, jobTrain{Shard: shard, Shards: shards, Resume: "auto"})
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("stopped by a signal (a spot interruption or StopTrainingJob); the last checkpoint is in %s: %w", job.CheckpointDir(), err)
		}
		return true, failJob(job, err)
	}
	if !job.Leader() {
		return true, nil
	}
	if err := job.ExportModel(ctx, cfg, checkpoint, e.dbPath(cfg)); err != nil {
		return true, failJob(job, err)
	}
	fmt.Fprintf(e.Stderr, "natssl: model artefacts in %s\n", job.ModelDir())
	return true, nil
}

// failJob records err as the job's FailureReason and returns it, so that natssl exits non-zero
// with the same message on stderr.
func failJob(job *sagemaker.Job, err error) error {
	if werr := job.WriteFailure(err); werr != nil {
		return errors.Join(err, werr)
	}
	return err
}
