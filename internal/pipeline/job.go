package pipeline

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

// JobOptions say how natssl train runs inside a SageMaker training job.
type JobOptions struct {
	Base string // the job's folder: /opt/ml, or SAGEMAKER_BASE_DIR (see sagemaker.Detect)
	// Config holds the layers under the job's hyperparameters: the image's --config and the
	// environment. --set layers stay above the hyperparameters. RunJob fills in the
	// hyperparameters from the job.
	Config  configs.Sources
	DB      string // the tracker database; "" means run.db pointed into the job's checkpoint folder
	Command string // recorded with a new run
}

// JobResult is what a job did.
type JobResult struct {
	Config *configs.Config // the config the job ran: resolved once, pointed at the job's folders
	Train  *TrainResult
	Eval   *EvalResult // nil without a newt channel, or when the evaluation failed
}

// RunJob is natssl train inside a SageMaker training job. It reads the job's files under
// o.Base, resolves the config once with the hyperparameters as their layer, points it at the
// job's channels and checkpoint folder (sagemaker.Job.Apply), resumes what the checkpoint
// folder holds after a spot restart, trains, scores the final checkpoint on the newt
// channel's suite when there is one, and writes the model artefacts. Any failure is written to
// the job's failure file (its FailureReason) and returned.
func RunJob(ctx context.Context, o JobOptions, obs Observer) (*JobResult, error) {
	obs = orDiscard(obs)
	job, err := sagemaker.Open(o.Base)
	if err != nil {
		return nil, failJob(&sagemaker.Job{Base: o.Base}, err)
	}
	src := o.Config
	src.Hyperparameters, src.HyperparametersFile = job.Hyperparameters, job.HyperparametersFile()
	cfg, err := configs.Load(src)
	if err != nil {
		return nil, failJob(job, err)
	}
	if err := job.Apply(cfg); err != nil {
		return nil, failJob(job, err)
	}
	db := dbPath(cfg, o.DB)
	if err := os.MkdirAll(job.RunDir(), 0o755); err != nil {
		return nil, failJob(job, fmt.Errorf("sagemaker: checkpoint folder: %w", err))
	}
	// A failure file left by an earlier attempt on this volume must not outlive a success.
	if err := os.Remove(job.FailurePath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, failJob(job, fmt.Errorf("sagemaker: remove old failure file: %w", err))
	}
	resume, err := jobResume(ctx, job, db, obs)
	if err != nil {
		return nil, failJob(job, err)
	}
	obs.Notice(fmt.Sprintf("SageMaker job at %s: host %s, channels %v, checkpoints in %s",
		job.Base, job.CurrentHost, job.ChannelNames(), job.RunDir()))
	res := &JobResult{Config: cfg}
	// One instance runs a job: the process of a run restored with the checkpoints (a spot
	// interruption) is gone, however fresh its heartbeat.
	topt := TrainOptions{DB: db, Resume: resume, Command: o.Command, TakeOver: true}
	if res.Train, err = Train(ctx, cfg, topt, obs); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("stopped by a signal (a spot interruption or StopTrainingJob); the last checkpoint is in %s: %w", job.RunDir(), err)
		}
		return res, failJob(job, err)
	}
	ckpt := res.Train.Checkpoint
	if _, ok := job.Channels[sagemaker.NewtChannel]; ok && ckpt != "" {
		// The evaluation adds to the run's record; the trained model is worth exporting
		// without it, so its failure is reported but does not fail the job.
		res.Eval, err = Evaluate(ctx, cfg, EvalOptions{DB: db, Checkpoint: ckpt, Command: o.Command}, obs)
		if err != nil {
			obs.Notice(fmt.Sprintf("NeWT evaluation of %s failed, the model is exported without it: %v", ckpt, err))
		}
	}
	if err := job.ExportModel(ctx, cfg, ckpt, db); err != nil {
		return res, failJob(job, err)
	}
	obs.Notice(fmt.Sprintf("model artefacts in %s", job.ModelDir()))
	return res, nil
}

// jobResume chooses how a (re)started job resumes: "auto" (the newest unfinished run in the
// tracker) when the database restored into the checkpoint folder is sound. SageMaker uploads
// that folder file by file while SQLite writes, so after a spot interruption the database can
// come back torn; it is then moved aside, and the newest valid checkpoint file of the folder
// continues the training as a new run in a fresh database.
func jobResume(ctx context.Context, job *sagemaker.Job, db string, obs Observer) (string, error) {
	bad := sagemaker.CheckDB(ctx, db)
	if bad == nil {
		return "auto", nil
	}
	aside, err := sagemaker.MoveAside(db, "corrupt-"+time.Now().UTC().Format("20060102-150405"))
	if err != nil {
		return "", joinLine(bad, err)
	}
	obs.Notice(fmt.Sprintf("the tracker database restored from the checkpoints is unusable (%v); kept as %s", bad, aside))
	var newest *trainer.Checkpoint
	var newestTime time.Time
	err = filepath.WalkDir(job.RunDir(), func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		c, err := latestIn(p, obs)
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
	obs.Notice(fmt.Sprintf("continuing from checkpoint %s (step %d) as a new run", newest.Path, newest.Header.Step))
	return newest.Path, nil
}

// failJob records err as the job's FailureReason and returns it, so that natssl exits non-zero
// with the same message.
func failJob(job *sagemaker.Job, err error) error {
	if werr := job.WriteFailure(err); werr != nil {
		return joinLine(err, werr)
	}
	return err
}
