//go:build mpi && cgo

package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/internal/pipeline"
	"github.com/natssl/natssl/sagemaker"
)

// simHosts lays out the /opt/ml of SageMaker hosts algo-1 and algo-2 under root, as SageMaker
// does on each host of a job of two: the same hyperparameters, the host's own
// resourceconfig.json, and a train channel with the smoke images (none on the hosts in
// noData).
func simHosts(t *testing.T, root, hyperparameters string, noData ...string) {
	t.Helper()
	for _, h := range []string{"algo-1", "algo-2"} {
		base := filepath.Join(root, h)
		files := map[string]string{
			"input/config/hyperparameters.json": hyperparameters,
			"input/config/resourceconfig.json": fmt.Sprintf(`{"current_host": %q, "hosts": ["algo-2", "algo-1"],
				"network_interface_name": "lo"}`, h),
			"input/config/inputdataconfig.json": `{"train": {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated"}}`,
		}
		for rel, content := range files {
			p := filepath.Join(base, rel)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		train := filepath.Join(base, "input/data/train")
		if strings.Contains(strings.Join(noData, " "), h) {
			if err := os.MkdirAll(train, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.CopyFS(train, os.DirFS("../../configs/smoke/train")); err != nil {
			t.Fatal(err)
		}
	}
}

// hostProcess starts natssl train (this test binary) as SageMaker starts it on a host of a
// simulated job: the leader's mpirun reaches the other host through the local agent script.
func hostProcess(t *testing.T, root, host, agent string) (*exec.Cmd, *strings.Builder) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), mpiHangLimit)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, os.Args[0], "train", "--config", "smoke")
	cmd.Env = append(os.Environ(), asNatssl+"=1", sagemaker.BaseEnv+"="+filepath.Join(root, host),
		"OMPI_MCA_plm_rsh_agent="+agent, "SIM_ROOT="+root, "TMPDIR="+root)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, &out
}

// TestSageMakerTwoHosts: a SageMaker job of two hosts simulated on this machine (two /opt/ml
// trees, real mpirun, the remote shell a local script). natssl on the second host waits; on
// the first it starts mpirun over both; the two ranks train one model: one run in the first
// host's tracker, one artefact, in the first host's model folder. When the second host has no
// data, its rank fails: the failure file of that host says why, the first host's says which
// rank failed, and both processes exit non-zero.
func TestSageMakerTwoHosts(t *testing.T) {
	agent, err := filepath.Abs("testdata/sagemaker-rsh-agent.sh")
	if err != nil {
		t.Fatal(err)
	}
	hp := `{"data.image_size": "16", "model.width": "4", "train.steps": "4", "train.devices": "[cpu]", "eval.monitor_every": "0"}`
	t.Run("trains one model", func(t *testing.T) {
		root := t.TempDir()
		simHosts(t, root, hp)
		worker, wout := hostProcess(t, root, "algo-2", agent)
		leader, lout := hostProcess(t, root, "algo-1", agent)
		if err := leader.Wait(); err != nil {
			t.Fatalf("leader: %v\n%s", err, lout)
		}
		if err := worker.Wait(); err != nil {
			t.Fatalf("worker: %v\n%s\nleader:\n%s", err, wout, lout)
		}
		for _, f := range []string{sagemaker.ModelCheckpoint, sagemaker.ModelDB} {
			if _, err := os.Stat(filepath.Join(root, "algo-1", "model", f)); err != nil {
				t.Errorf("first host's model artefact %s: %v\n%s", f, err, lout)
			}
		}
		if ents, _ := os.ReadDir(filepath.Join(root, "algo-2", "model")); len(ents) != 0 {
			t.Errorf("the second host wrote model artefacts too: %v", ents)
		}
		for _, h := range []string{"algo-1", "algo-2"} {
			if _, err := os.Stat(filepath.Join(root, h, "output", "failure")); err == nil {
				t.Errorf("%s: failure file after a success", h)
			}
		}
		ctx := context.Background()
		db, err := experiments.Open(ctx, filepath.Join(root, "algo-1", "model", sagemaker.ModelDB))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		runs, err := db.ListRuns(ctx, experiments.ListOptions{})
		if err != nil || len(runs) != 1 || runs[0].Status != experiments.StatusFinished || runs[0].Steps != 4 {
			t.Fatalf("runs %+v, %v; want one finished at step 4", runs, err)
		}
		if tags, _ := db.Tags(ctx, runs[0].ID); tags[pipeline.WorldSizeTag] != "2" {
			t.Errorf("tags %v, want world_size 2", tags)
		}
		if _, err := os.Stat(filepath.Join(root, "algo-2", "checkpoints")); err == nil {
			if ents, _ := os.ReadDir(filepath.Join(root, "algo-2", "checkpoints", "algo-2")); len(ents) != 0 {
				t.Errorf("the second host wrote checkpoints: %v", ents)
			}
		}
	})
	t.Run("a host's rank fails", func(t *testing.T) {
		root := t.TempDir()
		simHosts(t, root, hp, "algo-2")
		worker, wout := hostProcess(t, root, "algo-2", agent)
		leader, lout := hostProcess(t, root, "algo-1", agent)
		lerr, werr := leader.Wait(), worker.Wait()
		if lerr == nil || werr == nil {
			t.Fatalf("leader %v, worker %v; want both to fail\nleader:\n%s\nworker:\n%s", lerr, werr, lout, wout)
		}
		for h, want := range map[string]string{"algo-2": "holds no .jpg, .jpeg or .png images", "algo-1": "rank 1 failed"} {
			b, err := os.ReadFile(filepath.Join(root, h, "output", "failure"))
			if err != nil || !strings.Contains(string(b), want) {
				t.Errorf("%s: failure file %q (%v), want %q", h, b, err, want)
			}
		}
		if _, err := os.Stat(filepath.Join(root, "algo-1", "model", sagemaker.ModelCheckpoint)); err == nil {
			t.Errorf("a failed job wrote model artefacts")
		}
	})
}
