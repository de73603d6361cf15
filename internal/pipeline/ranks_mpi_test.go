//go:build mpi && cgo

package pipeline

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/natssl/natssl/repack"
)

// rankJob runs this test binary's rank case under mpirun with np ranks.
func rankJob(t *testing.T, np int, name string, env ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{"--oversubscribe", "--bind-to", "none", "-np", strconv.Itoa(np), os.Args[0]}
	if os.Geteuid() == 0 {
		args = append([]string{"--allow-run-as-root"}, args...)
	}
	cmd := exec.CommandContext(ctx, "mpirun", args...)
	cmd.Env = append(append(os.Environ(), rankCaseEnv+"="+name), env...)
	out, err := cmd.CombinedOutput()
	if err != nil || ctx.Err() != nil {
		t.Fatalf("mpirun -np %d %s: %v\n%s", np, name, err, out)
	}
	for r := range np {
		if !strings.Contains(string(out), fmt.Sprintf("rank %d: ok\n", r)) {
			t.Fatalf("rank %d did not end well\n%s", r, out)
		}
	}
	return string(out)
}

// TestRanksShareEveryEpoch: over 2 and 3 real ranks, each epoch of the smoke images is dealt
// whole and once: the ranks' samples are disjoint and together every image, for a folder
// (dealt by sample) and for tar shards (dealt by whole shard, the last ones shared).
func TestRanksShareEveryEpoch(t *testing.T) {
	folder, err := filepath.Abs("../../configs/smoke/train")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	filepath.WalkDir(folder, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".jpg") {
			rel, _ := filepath.Rel(folder, p)
			want = append(want, filepath.Base(rel))
		}
		return err
	})
	slices.Sort(want)
	shards := t.TempDir()
	sum, err := repack.Run(context.Background(), repack.Options{Data: smokeConfig(t, t.TempDir()).Data, Out: shards, Shards: 5})
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []struct{ name, source string }{{"folder", folder}, {"5 tar shards", sum.Manifest}} {
		for _, np := range []int{2, 3} {
			t.Run(fmt.Sprintf("%s/%d ranks", src.name, np), func(t *testing.T) {
				out := rankJob(t, np, "shards", "SHARDS_SOURCE="+src.source, "SHARDS_EPOCHS=2")
				byEpoch := map[string][]string{}
				byRank := map[string]map[string]bool{}
				for _, l := range strings.Split(out, "\n") {
					f := strings.Fields(l)
					if len(f) != 4 || f[0] != "key" {
						continue
					}
					key := filepath.Base(f[3])
					byEpoch[f[2]] = append(byEpoch[f[2]], key)
					if byRank[f[1]+"/"+f[2]] == nil {
						byRank[f[1]+"/"+f[2]] = map[string]bool{}
					}
					byRank[f[1]+"/"+f[2]][key] = true
				}
				if len(byEpoch) != 2 {
					t.Fatalf("epochs %v, want 0 and 1\n%s", len(byEpoch), out)
				}
				for e, keys := range byEpoch {
					slices.Sort(keys)
					if !slices.Equal(keys, want) {
						t.Errorf("epoch %s: %d samples (%d distinct), want each of the %d once", e, len(keys), len(slices.Compact(slices.Clone(keys))), len(want))
					}
					for r := range np {
						if len(byRank[fmt.Sprintf("%d/%s", r, e)]) == 0 {
							t.Errorf("epoch %s: rank %d read nothing", e, r)
						}
					}
				}
			})
		}
	}
}
