//go:build mpi && cgo

package cli

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natssl/natssl/experiments"
)

// TestMethodsOverMpirun: under mpirun, 2 ranks of one CPU replica train every method (and
// multi-crop) as one process of 2 replicas, bit for bit: the losses of every step and the last
// checkpoint, whose target network and MoCo queues rank 0 writes from the state every rank
// keeps alike (each loss spans both ranks' embeddings, the keys enqueued are both ranks').
func TestMethodsOverMpirun(t *testing.T) {
	crops := "augment.crops=[{size: 16, count: 2, scale: [0.3, 1]}, {size: 8, count: 2, scale: [0.1, 0.3]}]"
	for _, tc := range []struct {
		name string
		sets []string
	}{
		{"simclr multi-crop", []string{crops}},
		{"byol", []string{"method.name=byol", "method.tau_base=0.9"}},
		{"moco multi-crop", []string{"method.name=moco", "method.queue_size=32", crops}},
		{"vicreg", []string{"method.name=vicreg"}},
		{"barlow", []string{"method.name=barlow"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var sets []string
			for _, s := range append(tc.sets, "data.batch_size=16") {
				sets = append(sets, "--set", s)
			}
			one := append(mpiTrainArgs(sets...), "--set", "train.devices=cpu,cpu",
				"--set", "run.out_dir="+filepath.Join(dir, "one"), "--db", filepath.Join(dir, "one.db"))
			if code, _, stderr := runCLI(t, one...); code != 0 {
				t.Fatalf("one process: exit %d: %s", code, stderr)
			}
			j := mpiJob{np: 2, perRank: rankDirs(dir), args: mpiTrainArgs(sets...)}.run(t)
			if j.code != 0 {
				t.Fatalf("2 ranks: exit %d\n%s", j.code, j.out)
			}
			method := strings.Fields(tc.name)[0]
			if !strings.Contains(j.out, fmt.Sprintf(" %s, convnet-small", method)) || !strings.Contains(j.out, "2 ranks × 1 replica(s)") {
				t.Errorf("the run's first line does not name %s over 2 ranks:\n%s", method, j.out)
			}
			want, got := readRun(t, filepath.Join(dir, "one.db")), readRun(t, filepath.Join(dir, "rank0", "natssl.db"))
			if got.info.Status != experiments.StatusFinished || got.info.Steps != 6 {
				t.Fatalf("run over 2 ranks: %+v", got.info)
			}
			sameLosses(t, got.losses, want.losses, 6)
			if len(got.ckpts) != 2 || len(want.ckpts) != 2 {
				t.Fatalf("checkpoints %+v, want 2 like %+v", got.ckpts, want.ckpts)
			}
			sameTensors(t, got.ckpts[1].Path, want.ckpts[1].Path)
			onlyRank0Wrote(t, dir, 2)
		})
	}
}
