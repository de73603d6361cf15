package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/natssl/natssl/configs"
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

// commands are added by each subcommand's file in init, so that each file stays self-contained.
var commands []func(*env) *cobra.Command

func addCommand(f func(*env) *cobra.Command) { commands = append(commands, f) }

func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "natssl",
		Short: "Self-supervised learning on natural-world photo collections",
		Long: `natssl trains SimCLR encoders on natural-world photo collections (folders, iNat-style
JSON manifests, tar shards, s3:// prefixes), scores them with the NeWT linear probe, and keeps
every run in a SQLite experiment tracker.

Every command takes --config (a YAML file or an embedded preset: ` + strings.Join(configs.Presets(), ", ") + `),
repeated --set key=value overrides, and --db (the tracker; default run.db from the config).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&e.Global.ConfigFile, "config", "", "YAML config file, or the name of an embedded preset")
	root.PersistentFlags().StringArrayVar(&e.Global.Sets, "set", nil, "override a config key, e.g. --set train.lr=0.1 (repeatable)")
	root.PersistentFlags().StringVar(&e.Global.DB, "db", "", "experiment tracker database (default: run.db from the config)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErr(err) })
	for _, f := range commands {
		root.AddCommand(f(e))
	}
	typeArgErrors(root)
	return root
}

// Main runs natssl with args and returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, args, stdin, stdout, stderr)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{Stdin: stdin, Stdout: stdout, Stderr: stderr, Global: &globalOptions{}}
	root := newRoot(e)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "config:") && !strings.HasPrefix(msg, "natssl") {
		msg = "natssl: " + msg
	}
	fmt.Fprintln(stderr, msg)
	return exitCode(err)
}

// sources are the config layers the global flags and the environment name.
func (e *env) sources() configs.Sources {
	return configs.Sources{File: e.Global.ConfigFile, Sets: e.Global.Sets}
}

// loadConfig resolves the configuration from the global flags and the environment.
func (e *env) loadConfig() (*configs.Config, error) { return configs.Load(e.sources()) }

// commandLine is recorded with the runs a command creates.
func commandLine() string { return strings.Join(os.Args, " ") }
