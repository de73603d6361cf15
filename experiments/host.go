package experiments

import (
	"context"
	"os/exec"
	"strings"
	"time"
)

// gitCommit returns the commit checked out in the working directory and whether the tree has
// uncommitted changes; "" when git is missing or this is not a checkout (as in a container).
func gitCommit(ctx context.Context) (commit string, dirty bool) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "git", "rev-parse", "--verify", "HEAD").Output()
	if err != nil {
		return "", false
	}
	commit = strings.TrimSpace(string(out))
	st, err := exec.CommandContext(ctx, "git", "status", "--porcelain", "--untracked-files=no").Output()
	return commit, err == nil && len(strings.TrimSpace(string(st))) > 0
}
