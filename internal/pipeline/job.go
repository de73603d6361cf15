package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/mpi"
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
	// World and Teardown are as in TrainOptions: the MPI job this process is a rank of (the
	// one the first host starts over all hosts), and the launcher ending it.
	World    *mpi.World
	Teardown <-chan struct{}
	// Relaunch is the command line every rank of a job of several hosts runs (this natssl and
	// its arguments); RshAgent how the first host's mpirun reaches the others ("": ssh,
	// Open MPI's default; a local script simulates hosts). See sagemaker.MPILaunch.
	Relaunch []string
	RshAgent string
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
//
// A job of several hosts trains one model over MPI: started by SageMaker on every host
// (o.World a world of one), the first host launches the MPI job over all hosts and the others
// wait for it (hostJob); then, as one of the job's ranks (o.World of several), RunJob trains
// with the others, and rank 0 alone resumes, evaluates and writes the model artefacts.
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
	agreed := trainer.ConfigHash(cfg, 1) // before the host's own folders
	if err := job.Apply(cfg); err != nil {
		return nil, failJob(job, err)
	}
	rank0 := o.World == nil || o.World.Rank() == 0
	if job.HostCount() > 1 && (o.World == nil || o.World.Size() == 1) {
		return hostJob(ctx, job, cfg, o, obs)
	}
	db := dbPath(cfg, o.DB)
	if err := os.MkdirAll(job.RunDir(), 0o755); err != nil {
		return nil, failJob(job, fmt.Errorf("sagemaker: checkpoint folder: %w", err))
	}
	// A failure file left by an earlier attempt on this volume must not outlive a success.
	if err := os.Remove(job.FailurePath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, failJob(job, fmt.Errorf("sagemaker: remove old failure file: %w", err))
	}
	resume := ""
	if rank0 { // the tracker is rank 0's
		if resume, err = jobResume(ctx, job, db, obs); err != nil {
			return nil, failJob(job, err)
		}
	}
	obs.Notice(fmt.Sprintf("SageMaker job at %s: host %s, channels %v, checkpoints in %s",
		job.Base, job.CurrentHost, job.ChannelNames(), job.RunDir()))
	res := &JobResult{Config: cfg}
	// One instance runs a job: the process of a run restored with the checkpoints (a spot
	// interruption) is gone, however fresh its heartbeat.
	topt := TrainOptions{DB: db, Resume: resume, Command: o.Command, World: o.World, Teardown: o.Teardown, Agreed: agreed, TakeOver: true}
	if res.Train, err = Train(ctx, cfg, topt, obs); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("stopped by a signal (a spot interruption or StopTrainingJob); the last checkpoint is in %s: %w", job.RunDir(), err)
		}
		return res, failJob(job, err)
	}
	if !rank0 {
		return res, nil
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

// sshWait is how long the first host waits for the others' ssh servers.
const sshWait = 5 * time.Minute

// hostJob is natssl on one host of a job of several, as SageMaker starts it: the first host
// starts mpirun over all hosts (one rank per device: train.devices [auto] gives a rank per
// GPU, another list one rank per host) and waits for it; the others start sshd and wait until
// the job has come and gone. A signal (a spot interruption, StopTrainingJob) reaches the
// ranks as SIGUSR1 (mpirun forwards it at once): they stop together after a checkpoint.
func hostJob(ctx context.Context, job *sagemaker.Job, cfg *configs.Config, o JobOptions, obs Observer) (*JobResult, error) {
	if !mpi.Compiled {
		return nil, failJob(job, fmt.Errorf("sagemaker: a job of %d hosts trains one model over MPI, but %w: build the image where pkg-config finds ompi-c (Debian: libopenmpi-dev)", job.HostCount(), mpi.ErrNoMPI))
	}
	if err := os.Remove(job.FailurePath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, failJob(job, fmt.Errorf("sagemaker: remove old failure file: %w", err))
	}
	res := &JobResult{Config: cfg}
	if !job.Leader() {
		obs.Notice(fmt.Sprintf("SageMaker job host %s of %v: waiting for %s's MPI job", job.CurrentHost, job.Hosts, job.Hosts[0]))
		if o.RshAgent == "" {
			stop, err := sagemaker.StartSSHD()
			if err != nil {
				return nil, failJob(job, err)
			}
			defer stop()
		}
		// A signal does not end the wait: the leader stops the ranks of every host.
		if err := sagemaker.WaitForJob(context.WithoutCancel(ctx), time.Second); err != nil {
			return nil, failJob(job, err)
		}
		return res, job.Failure() // written by a rank of this host
	}
	if len(o.Relaunch) == 0 {
		return nil, failJob(job, errors.New("sagemaker: a job of several hosts needs the command its ranks run"))
	}
	if o.RshAgent == "" {
		if err := job.WaitForSSH(ctx, sshWait); err != nil {
			return nil, failJob(job, err)
		}
	}
	slots := 1
	if len(cfg.Train.Devices) == 1 && cfg.Train.Devices[0] == trainer.AutoDevice {
		slots = max(1, trainer.GPUCount())
	}
	args := job.MPIRun(sagemaker.MPILaunch{Slots: slots, Program: o.Relaunch, RshAgent: o.RshAgent})
	obs.Notice(fmt.Sprintf("SageMaker job of %d hosts: %s", job.HostCount(), strings.Join(args, " ")))
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, failJob(job, fmt.Errorf("sagemaker: start mpirun (openmpi-bin): %w", err))
	}
	stop := context.AfterFunc(ctx, func() { cmd.Process.Signal(syscall.SIGUSR1) })
	err := cmd.Wait()
	stop()
	if err == nil {
		return res, nil
	}
	if ferr := job.Failure(); ferr != nil {
		return nil, ferr // rank 0 told which rank failed, and why
	}
	return nil, failJob(job, fmt.Errorf("sagemaker: the MPI job over %d hosts failed: mpirun: %w (the hosts' logs say why)", job.HostCount(), err))
}
