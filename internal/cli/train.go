package cli

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/natssl/natssl/internal/pipeline"
	"github.com/natssl/natssl/sagemaker"
)

func newTrainCmd(e *env) *cobra.Command {
	return leaf("train", "Train an encoder with the config's method (checkpoints and metrics go to run.out_dir and the tracker)",
		`natssl train runs method.name (simclr, byol, moco, vicreg or barlow) on data.source with
the model and schedule of the config, one data-parallel replica per entry of train.devices.
Checkpoints are written every train.checkpoint_every steps and at the end to
<run.out_dir>/<run id>/checkpoints, and the run (config, metrics, checkpoints) is recorded in
the tracker (--db, default run.db).

On a terminal a bar shows every step, with a summary line every tenth of the run that stays
on screen; otherwise a line every train.log_every steps. The time left is the earlier of the
schedule's end and train.time_limit.

SIGINT (Ctrl-C), SIGTERM or SIGUSR1 writes a checkpoint, marks the run KILLED, prints the
command that continues it, and exits 128 + the signal's number: 130 (SIGINT), 143 (SIGTERM),
138 (SIGUSR1); a second signal exits at once.
--resume continues a run: "auto" (the newest run of this run.name that stopped short of its
last step; a new run if there is none), a run (id, prefix, name, NAME@K or latest), or a
checkpoint file. A config that changes the maths is refused unless --resume-force is given.

Under mpirun or srun (a build with MPI), every process is a rank of one run: rank r trains
its train.devices replicas ([auto]: the device of its local rank) on its share of the global
batch, and rank 0 alone writes the tracker and the checkpoints. Stop it with SIGUSR1 to
mpirun, which forwards it to every rank at once (SIGTERM reaches the ranks only after
--mca odls_base_sigkill_timeout, 1 s by default, with SIGKILL as long after).

Inside a SageMaker training job (/opt/ml, or SAGEMAKER_BASE_DIR) it runs the job instead:
the hyperparameters as a config layer, the job's channels and checkpoint folder, a resume
after a spot restart, a NeWT evaluation on the newt channel, and the model artefacts. In a
job of several hosts, the first starts mpirun over all of them and the others wait.`,
		(*trainOptions).flags, func(cmd *cobra.Command, o *trainOptions) error {
			return e.runTrain(cmd.Context(), *o)
		})
}

// trainOptions are natssl train's own flags.
type trainOptions struct {
	pipeline.TrainOptions
	JSON bool
}

func (o *trainOptions) flags(f *pflag.FlagSet) {
	f.StringVar(&o.Resume, "resume", "", "continue a run: auto, a run (id, prefix, name, NAME@K, latest), or a checkpoint file")
	f.BoolVar(&o.Force, "resume-force", false, "resume even if the config changes the maths")
	f.BoolVar(&o.JSON, "json", false, "print the finished run as one JSON object on the last line of stdout")
}

func (e *env) runTrain(ctx context.Context, o trainOptions) error {
	w, err := joinJob("train", false)
	if err != nil {
		return err
	}
	con := newConsole(e.Stderr)
	var obs pipeline.Observer = con
	notice := con.Notice
	if w.Rank() != 0 {
		obs = pipeline.Discard // rank 0 tells the run's progress; each rank its own stop
		notice = func(msg string) { fmt.Fprintf(e.Stderr, "natssl: rank %d of %d: %s\n", w.Rank(), w.Size(), msg) }
	}
	ctx, teardown, stop := stopSignals(ctx, notice, syscall.SIGUSR1)
	defer stop()
	if base, ok := sagemaker.Detect(os.Getenv); ok {
		self, err := os.Executable()
		if err != nil {
			return leaveJob(w, fmt.Errorf("train: this program's path: %w", err), e.Stderr)
		}
		_, err = pipeline.RunJob(ctx, pipeline.JobOptions{Base: base, Config: e.sources(), DB: e.Global.DB, Command: commandLine(),
			World: w, Teardown: teardown, Relaunch: append([]string{self}, os.Args[1:]...),
			RshAgent: os.Getenv("OMPI_MCA_plm_rsh_agent")}, obs)
		return leaveJob(w, err, e.Stderr)
	}
	con.resume = e.resumeCommand // a job resumes by itself after a restart
	if w.Size() > 1 {
		con.resume = func(id string) string {
			return fmt.Sprintf("%s, started by %s as before (%d ranks)", e.resumeCommand(id), w.Launcher(), w.Size())
		}
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return leaveJob(w, err, e.Stderr)
	}
	o.DB, o.Command, o.World, o.Teardown = e.Global.DB, commandLine(), w, teardown
	res, err := pipeline.Train(ctx, cfg, o.TrainOptions, obs)
	if err = leaveJob(w, err, e.Stderr); err != nil {
		return withHint(cfg, err)
	}
	if w.Rank() != 0 {
		return nil
	}
	if !o.JSON {
		return nil
	}
	return printJSONLine(e.Stdout, struct {
		RunID      string  `json:"run_id"`
		Steps      int64   `json:"steps"`
		Loss       float64 `json:"loss"`
		Reason     string  `json:"reason"`
		ElapsedS   float64 `json:"elapsed_s"`
		Checkpoint string  `json:"checkpoint"`
	}{res.RunID, res.Step, res.Loss, string(res.Reason), res.Elapsed.Seconds(), res.Checkpoint})
}

// resumeCommand is the command line that continues run id with this command's config layers.
func (e *env) resumeCommand(id string) string {
	args := []string{"natssl", "train", "--resume", id}
	if e.Global.ConfigFile != "" {
		args = append(args, "--config", shellQuote(e.Global.ConfigFile))
	}
	if e.Global.DB != "" {
		args = append(args, "--db", shellQuote(e.Global.DB))
	}
	for _, s := range e.Global.Sets {
		args = append(args, "--set", shellQuote(s))
	}
	return strings.Join(args, " ")
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
