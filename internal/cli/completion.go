package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/experiments"
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
	walk(root, func(c *cobra.Command) {
		flag := func(name string, f cobra.CompletionFunc) {
			if c.Flags().Lookup(name) != nil {
				_ = c.RegisterFlagCompletionFunc(name, f)
			}
		}
		switch c.CommandPath() {
		case "natssl runs show", "natssl runs tag", "natssl runs note", "natssl runs metrics", "natssl runs watch":
			c.ValidArgsFunction = firstArg(runs)
		case "natssl runs delete", "natssl runs archive", "natssl report":
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
		}
		if strings.HasPrefix(c.CommandPath(), "natssl report") {
			flag("baseline", runs)
			flag("classifier", classifiers)
			flag("format", fixed(string(report.FormatMarkdown), string(report.FormatHTML), string(report.FormatBoth)))
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

// completeRuns offers "latest", the run names and the short ids of the tracker the command
// line names, newest first; nothing when there is no tracker.
func (e *env) completeRuns(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
	cfg, err := configs.Load(e.sources())
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	db, err := experiments.OpenExisting(context.Background(), dbPath(e, cfg))
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	defer db.Close()
	list, err := db.ListRuns(context.Background(), experiments.ListOptions{Reverse: true, Limit: 500})
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	out := []string{experiments.Latest + "\tthe run started last"}
	seen := map[string]bool{}
	for _, r := range list {
		if r.Name != "" && !seen[r.Name] {
			seen[r.Name] = true
			out = append(out, fmt.Sprintf("%s\tits latest run, %s", r.Name, shortID(r.ID)))
		}
	}
	for _, r := range list {
		out = append(out, fmt.Sprintf("%s\t%s %s %s", shortID(r.ID), orDash(r.Name), r.DisplayStatus(),
			r.StartedAt.Local().Format("2006-01-02 15:04")))
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeConfig offers the presets and the YAML files that match.
func completeConfig(_ *cobra.Command, _ []string, s string) ([]string, cobra.ShellCompDirective) {
	var out []string
	for _, p := range configs.Presets() {
		out = append(out, p+"\tembedded preset")
	}
	for _, pat := range []string{s + "*.yaml", s + "*.yml"} {
		files, _ := filepath.Glob(pat)
		out = append(out, files...)
	}
	return out, cobra.ShellCompDirectiveDefault
}

// completeSet offers "key=" for every config key, and after "key=" the key's fixed values.
func completeSet(_ *cobra.Command, _ []string, s string) ([]string, cobra.ShellCompDirective) {
	if k, _, ok := strings.Cut(s, "="); ok {
		var out []string
		for _, v := range configs.Values(k) {
			out = append(out, k+"="+v)
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
	var out []string
	for _, k := range configs.Keys() {
		out = append(out, k+"=")
	}
	return out, cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveNoFileComp
}

// dbPath is the tracker a command uses: --db, else run.db of the config.
func dbPath(e *env, cfg *configs.Config) string {
	if e.Global.DB != "" {
		return e.Global.DB
	}
	return cfg.Run.DB
}
