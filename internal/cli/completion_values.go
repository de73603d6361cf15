package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/experiments"
	"github.com/spf13/cobra"
)

// completionTracker opens the tracker the command line names, for completing its runs and
// sweeps; nil when there is none.
func (e *env) completionTracker() *experiments.DB {
	cfg, err := configs.Load(e.sources())
	if err != nil {
		return nil
	}
	db, err := experiments.OpenExisting(context.Background(), dbPath(e, cfg))
	if err != nil {
		return nil
	}
	return db
}

// completeRuns offers "latest", the run names and the short ids of the tracker the command
// line names, newest first; nothing when there is no tracker.
func (e *env) completeRuns(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	db := e.completionTracker()
	if db == nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	defer db.Close()
	list, _ := db.ListRuns(context.Background(), experiments.ListOptions{Reverse: true, Limit: 500})
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

// completeSweeps offers the short ids of the tracker's sweeps, newest first, with their names.
func (e *env) completeSweeps(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	db := e.completionTracker()
	if db == nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	defer db.Close()
	list, _ := db.ListSweeps(context.Background(), 100)
	var out []string
	for _, s := range list {
		out = append(out, fmt.Sprintf("%s\t%s %s", shortID(s.ID), orDash(s.Name), s.CreatedAt.Local().Format("2006-01-02 15:04")))
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
