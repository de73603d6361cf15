package cli

import (
	"context"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/natssl/natssl/internal/pipeline"
	"github.com/natssl/natssl/sagemaker"
)

func newTrainCmd(e *env) *cobra.Command {
	return leaf("train", "Train a SimCLR encoder (checkpoints and metrics go to run.out_dir and the tracker)",
		`natssl train runs SimCLR on data.source with the model and schedule of the config,
one data-parallel replica per entry of train.devices. Checkpoints are written every
train.checkpoint_every steps and at the end to <run.out_dir>/<run id>/checkpoints, and the
run (config, metrics, checkpoints) is recorded in the tracker (--db, default run.db).

On a terminal a bar shows every step, with a summary line every tenth of the run that stays
on screen; otherwise a line every train.log_every steps. The time left is the earlier of the
schedule's end and train.time_limit.

SIGINT (Ctrl-C) or SIGTERM writes a checkpoint, marks the run KILLED, prints the command that
continues it, and exits 130 (SIGINT) or 143 (SIGTERM); a second signal exits at once.
--resume continues a run: "auto" (the newest run of this run.name that stopped short of its
last step; a new run if there is none), a run (id, prefix, name, NAME@K or latest), or a
checkpoint file. A config that changes the maths is refused unless --resume-force is given.

Inside a SageMaker training job (/opt/ml, or SAGEMAKER_BASE_DIR) it runs the job instead:
the hyperparameters as a config layer, the job's channels and checkpoint folder, a resume
after a spot restart, a NeWT evaluation on the newt channel, and the model artefacts.`,
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
	obs := newConsole(e.Stderr)
	stopSecond := exitOnSecondSignal(obs.Notice)
	defer stopSecond()
	if base, ok := sagemaker.Detect(os.Getenv); ok {
		_, err := pipeline.RunJob(ctx, pipeline.JobOptions{Base: base, Config: e.sources(), DB: e.Global.DB, Command: commandLine()}, obs)
		return err
	}
	obs.resume = e.resumeCommand // a job resumes by itself after a restart
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	o.DB, o.Command = e.Global.DB, commandLine()
	res, err := pipeline.Train(ctx, cfg, o.TrainOptions, obs)
	if err != nil {
		return withHint(cfg, err)
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

// exitOnSecondSignal makes a second SIGINT/SIGTERM end the process at once (the first one
// cancels the command's context, and training stops after writing a checkpoint). notice says
// so on a line of its own.
func exitOnSecondSignal(notice func(string)) (stop func()) {
	c := make(chan os.Signal, 2)
	signal.Notify(c, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		var first os.Signal
		select {
		case first = <-c:
		case <-done:
			return
		}
		notice(signalName(first) + ": stopping after this step to write a checkpoint (signal again to exit at once)")
		select {
		case s := <-c:
			notice("second signal: exiting without a checkpoint")
			os.Exit((&signalError{sig: s}).exitCode())
		case <-done:
		}
	}()
	return func() {
		signal.Stop(c)
		close(done)
	}
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
