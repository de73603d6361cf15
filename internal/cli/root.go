package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/internal/redact"
)

// globalOptions are the flags every command takes.
type globalOptions struct {
	ConfigFile string
	Sets       []string
	DB         string
}

// env is what a command needs from the process: streams and the global options.
type env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Global         *globalOptions
}

// leaf builds a command that takes no arguments: its help, the flags bind puts into a fresh
// options value, and run, which reads them.
func leaf[O any](use, short, long string, bind func(*O, *pflag.FlagSet), run func(*cobra.Command, *O) error) *cobra.Command {
	return withArgs(use, short, long, cobra.NoArgs, bind, func(cmd *cobra.Command, o *O, _ []string) error { return run(cmd, o) })
}

// withArgs is leaf for a command that takes the arguments args allows.
func withArgs[O any](use, short, long string, args cobra.PositionalArgs, bind func(*O, *pflag.FlagSet),
	run func(*cobra.Command, *O, []string) error) *cobra.Command {
	o := new(O)
	cmd := &cobra.Command{Use: use, Short: short, Long: long, Args: args,
		RunE: func(cmd *cobra.Command, a []string) error { return run(cmd, o, a) }}
	bind(o, cmd.Flags())
	return cmd
}

// group is a command that only holds subcommands (natssl runs, config, data, bench).
func group(use, short string, subs ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short}
	cmd.AddCommand(subs...)
	return cmd
}

func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "natssl",
		Short: "Self-supervised learning on natural-world photo collections",
		Long: `natssl trains self-supervised encoders (SimCLR, BYOL, MoCo v2, VICReg, Barlow Twins) on
natural-world photo collections (folders, iNat-style JSON manifests, tar shards, s3://
prefixes), scores them with the NeWT linear probe, and keeps every run in a SQLite experiment
tracker.

Every command takes --config (a YAML file or an embedded preset: ` + strings.Join(configs.Presets(), ", ") + `),
repeated --set key=value overrides, and --db (the tracker; default run.db from the config).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&e.Global.ConfigFile, "config", "", "YAML config file, or the name of an embedded preset")
	pf.Var(&setFlag{&e.Global.Sets}, "set", "override a config key, e.g. --set train.lr=0.1 (repeatable)")
	pf.StringVar(&e.Global.DB, "db", "", "experiment tracker database (default: run.db from the config)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		var se *setFlagError
		if errors.As(err, &se) {
			return usageErr(se)
		}
		return usageErr(err)
	})
	root.AddCommand(newTrainCmd(e), newEvalCmd(e), newRunsCmd(e), newReportCmd(e), newDataCmd(e),
		newSweepCmd(e), newBenchCmd(e), newLaunchCmd(e), newConfigCmd(e), newExportCmd(e), newVersionCmd(e))
	root.SetIn(e.Stdin)
	root.SetOut(e.Stdout)
	root.SetErr(e.Stderr)
	root.InitDefaultCompletionCmd() // added now (it keeps the streams), so that its subcommands' typos are refused too
	typeArgErrors(root)
	registerCompletions(e, root)
	return root
}

// Main runs natssl with args and returns the process exit code: 130 after SIGINT and 143
// after SIGTERM, as shells report a process those signals ended (the run is stopped cleanly
// first: a checkpoint written and the run marked KILLED).
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := notifySignals(context.Background())
	defer stop()
	return run(ctx, args, stdin, stdout, stderr)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{Stdin: stdin, Stdout: stdout, Stderr: stderr, Global: &globalOptions{}}
	root := newRoot(e)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	msg := redact.String(err.Error()) // an endpoint's user:password@ never reaches the terminal
	if !strings.HasPrefix(msg, "config:") && !strings.HasPrefix(msg, "natssl") {
		msg = "natssl: " + msg
	}
	fmt.Fprintln(stderr, msg)
	if se := stoppedBy(ctx); se != nil {
		return se.exitCode()
	}
	return exitCode(err)
}

// sources are the config layers the global flags and the environment name.
func (e *env) sources() configs.Sources {
	return configs.Sources{File: e.Global.ConfigFile, Sets: e.Global.Sets}
}

// loadConfig resolves the configuration from the global flags and the environment, and
// prints what loading warned about (NATSSL_* variables that are not config variables).
func (e *env) loadConfig() (*configs.Config, error) {
	cfg, err := configs.Load(e.sources())
	if err != nil {
		return nil, err
	}
	for _, w := range cfg.Warnings() {
		fmt.Fprintln(e.Stderr, "natssl: warning:", w)
	}
	return cfg, nil
}

// commandLine is recorded with the runs a command creates.
func commandLine() string { return strings.Join(os.Args, " ") }
