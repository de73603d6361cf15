package cli

import (
	"github.com/spf13/cobra"

	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/export"
	"github.com/natssl/natssl/probe"
	"github.com/natssl/natssl/report"
)

// registerCompletions teaches cobra's shell completion (natssl completion bash|zsh|fish|
// powershell) natssl's values: run ids and names wherever a run is taken, preset names and
// YAML files for --config, config keys and their fixed values for --set, and the choices of
// the flags that have them.
func registerCompletions(e *env, root *cobra.Command) {
	_ = root.RegisterFlagCompletionFunc("config", completeConfig)
	_ = root.RegisterFlagCompletionFunc("set", completeSet)
	_ = root.RegisterFlagCompletionFunc("db", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"db", "sqlite"}, cobra.ShellCompDirectiveFilterFileExt
	})
	runs := e.completeRuns
	fixed := func(values ...string) cobra.CompletionFunc {
		return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return values, cobra.ShellCompDirectiveNoFileComp
		}
	}
	classifiers := fixed(string(probe.LinearSVC), string(probe.LogReg))
	var formats []string
	for _, f := range export.Formats {
		formats = append(formats, string(f))
	}
	walk(root, func(c *cobra.Command) {
		flag := func(name string, f cobra.CompletionFunc) {
			if c.Flags().Lookup(name) != nil {
				_ = c.RegisterFlagCompletionFunc(name, f)
			}
		}
		switch c.CommandPath() {
		case "natssl runs show", "natssl runs tag", "natssl runs note", "natssl runs metrics", "natssl runs watch":
			c.ValidArgsFunction = firstArg(runs)
		case "natssl runs delete", "natssl runs archive":
			c.ValidArgsFunction = runs
		case "natssl eval":
			flag("run", runs)
			flag("classifier", classifiers)
		case "natssl train":
			flag("resume", func(cmd *cobra.Command, args []string, s string) ([]string, cobra.ShellCompDirective) {
				refs, _ := runs(cmd, args, s)
				return append([]string{"auto"}, refs...), cobra.ShellCompDirectiveDefault // or a checkpoint file
			})
		case "natssl runs list":
			flag("status", fixed("running", "stale", "finished", "failed", "killed"))
			flag("sort", fixed(experiments.SortKeys...))
		case "natssl report":
			c.ValidArgsFunction = runs
			flag("baseline", runs)
			flag("classifier", classifiers)
			flag("format", fixed(string(report.FormatMarkdown), string(report.FormatHTML), string(report.FormatBoth)))
			flag("sweep", e.completeSweeps)
		case "natssl export":
			flag("run", runs)
			flag("format", fixed(formats...))
		case "natssl sweep":
			flag("resume", e.completeSweeps)
			flag("param", completeSet)
		case "natssl bench loader":
			flag("split", fixed("auto", "sample"))
		}
	})
}

func walk(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, sub := range c.Commands() {
		walk(sub, fn)
	}
}

// firstArg completes only a command's first argument.
func firstArg(f cobra.CompletionFunc) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, s string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return f(cmd, args, s)
	}
}
