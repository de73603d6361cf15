package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/natssl/natssl/fmnist"
)

var update = flag.Bool("update", false, "rerun scikit-learn (NATSSL_NEWT_PROBE=path/to/newt_probe.py, /usr/bin/python3) and rewrite testdata/parity_fmnist.json")

// parityGolden is what newt_probe.py (scikit-learn) printed for each feature kind.
type parityGolden map[string]struct {
	Overall float64 `json:"overall_mean_acc"`
	Tasks   map[string]struct {
		Acc   float64 `json:"acc"`
		BestC float64 `json:"best_C"`
	} `json:"tasks"`
	Sklearn string `json:"sklearn"`
}

// pooledPixels are features computed without any model: each image's pixels pooled over
// pool x pool blocks (the mean, or the max), scaled to [0, 1]. They are reproducible anywhere
// from Debian's idx files, so CI can run the Go side of the parity check without Python.
func pooledPixels(test *fmnist.Split, ids []string, pool int, useMax bool) *Features {
	side := test.Rows / pool
	f := &Features{IDs: ids, Dim: side * side}
	for _, id := range ids {
		i, err := strconv.Atoi(strings.TrimPrefix(id, "fmnist-test-"))
		if err != nil {
			panic(err)
		}
		px := test.Image(i)
		for y := 0; y < side; y++ {
			for x := 0; x < side; x++ {
				acc := 0.0
				for dy := 0; dy < pool; dy++ {
					for dx := 0; dx < pool; dx++ {
						v := float64(px[(y*pool+dy)*test.Cols+x*pool+dx])
						if useMax {
							acc = math.Max(acc, v)
						} else {
							acc += v
						}
					}
				}
				if !useMax {
					acc /= float64(pool * pool)
				}
				f.Data = append(f.Data, float32(acc/255))
			}
		}
	}
	return f
}

// TestParityWithSklearn runs the protocol on the real Fashion-MNIST NeWT-layout suite (the
// one `natssl data fashion-mnist` writes, seed 0) with two pixel feature sets, and checks the
// per-task test accuracies against scikit-learn's (the golden file): within 0.5 points on at
// least 95% of tasks and the mean within 0.2 points, the bar.
func TestParityWithSklearn(t *testing.T) {
	test, err := fmnist.Load(fmnist.DefaultDir, "test")
	if err != nil {
		t.Fatalf("the parity check needs Debian's dataset-fashion-mnist (CI installs it): %v", err)
	}
	rows, err := fmnist.BuildSuite(test, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var csvBuf bytes.Buffer
	if err := fmnist.WriteLabelsCSV(&csvBuf, test, rows); err != nil {
		t.Fatal(err)
	}
	suite, err := ReadSuite(bytes.NewReader(csvBuf.Bytes()), "fmnist-newt/labels.csv")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]*Features{
		"mean4": pooledPixels(test, suite.IDs, 4, false),
		"max4":  pooledPixels(test, suite.IDs, 4, true),
	}
	if *update {
		writeParityGolden(t, csvBuf.Bytes(), kinds)
	}
	b, err := os.ReadFile("testdata/parity_fmnist.json")
	if err != nil {
		t.Fatal(err)
	}
	var golden parityGolden
	if err := json.Unmarshal(b, &golden); err != nil {
		t.Fatal(err)
	}
	total, close, exact := 0, 0, 0
	for name, f := range kinds {
		want, ok := golden[name]
		if !ok {
			t.Fatalf("no golden results for %s; run with -update", name)
		}
		res, err := Evaluate(context.Background(), suite, f, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res.Tasks {
			w, ok := want.Tasks[r.Task]
			if !ok {
				t.Fatalf("%s: task %s not in the golden file", name, r.Task)
			}
			total++
			d := math.Abs(r.Accuracy-w.Acc) * 100
			if d <= 0.5+1e-9 {
				close++
			}
			if d < 1e-9 && r.C == w.BestC {
				exact++
			}
			t.Logf("%s %-30s acc %.4f (sklearn %.4f) C %g (sklearn %g)", name, r.Task, r.Accuracy, w.Acc, r.C, w.BestC)
		}
		if d := math.Abs(res.Mean-want.Overall) * 100; d > 0.2+1e-9 {
			t.Errorf("%s: mean accuracy %.4f, sklearn %.4f: %.2f points apart, the bar is 0.2", name, res.Mean, want.Overall, d)
		}
	}
	if float64(close) < 0.95*float64(total) {
		t.Errorf("%d of %d tasks within 0.5 points of sklearn, the bar is 95%%", close, total)
	}
	t.Logf("%d of %d tasks within 0.5 points of scikit-learn, %d identical in accuracy and C", close, total, exact)
}

func writeParityGolden(t *testing.T, labels []byte, kinds map[string]*Features) {
	script := os.Getenv("NATSSL_NEWT_PROBE")
	if script == "" {
		t.Fatal("-update needs NATSSL_NEWT_PROBE=path/to/newt_probe.py")
	}
	dir := t.TempDir()
	lp := filepath.Join(dir, "labels.csv")
	if err := os.WriteFile(lp, labels, 0o644); err != nil {
		t.Fatal(err)
	}
	out := map[string]json.RawMessage{}
	for name, f := range kinds {
		fp := filepath.Join(dir, name+".npy")
		if err := WriteNPY(fp, f); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("/usr/bin/python3", script, "--features", fp, "--ids", IDsPath(fp), "--labels", lp, "--name", name)
		cmd.Stderr = os.Stderr
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v", script, err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		var full map[string]any
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &full); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"features", "labels", "wall_s"} { // paths and times vary
			delete(full, k)
		}
		out[name], _ = json.Marshal(full)
	}
	b, _ := json.MarshalIndent(out, "", " ")
	if err := os.WriteFile("testdata/parity_fmnist.json", append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}
