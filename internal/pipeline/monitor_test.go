package pipeline

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/natssl/natssl/augment"
	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/experiments/metric"
	"github.com/natssl/natssl/loader"
	"github.com/natssl/natssl/probe"
	"github.com/natssl/natssl/trainer"
)

// TestMonitorDoesNotChangeTraining: the smoke run with the monitor on (every 2 steps, its kNN
// set and NeWT tasks read and scored between steps) and off has the same loss at every step,
// bit for bit, and the same final checkpoint tensors, with one replica and with two.
func TestMonitorDoesNotChangeTraining(t *testing.T) {
	for _, devices := range []string{"cpu", "cpu,cpu"} {
		t.Run(devices, func(t *testing.T) {
			run := func(every string) (*recorder, *trainer.Checkpoint) {
				t.Helper()
				cfg := smokeConfig(t, t.TempDir(), "train.devices="+devices, "eval.monitor_every="+every)
				rec := &recorder{}
				res, err := Train(context.Background(), cfg, TrainOptions{}, rec)
				if err != nil {
					t.Fatal(err)
				}
				c, err := trainer.ReadCheckpoint(res.Checkpoint)
				if err != nil {
					t.Fatal(err)
				}
				return rec, c
			}
			off, offCk := run("0")
			on, onCk := run("2")
			if len(off.monitored) != 0 || len(on.monitored) != 4 {
				t.Fatalf("monitored steps: %d with the monitor off, %d on; want 0 and 4", len(off.monitored), len(on.monitored))
			}
			if len(on.losses) != 6 {
				t.Fatalf("%d steps", len(on.losses))
			}
			for s, l := range off.losses {
				if math.Float64bits(l) != math.Float64bits(on.losses[s]) {
					t.Errorf("step %d: loss %v with the monitor, %v without", s, on.losses[s], l)
				}
			}
			if !reflect.DeepEqual(offCk.Tensors, onCk.Tensors) {
				t.Error("the final checkpoints' tensors differ")
			}
		})
	}
}

// TestMonitorRecorded: the monitor's scores reach the tracker and the observer at step 0 and
// every third step, and they are the scores of the model at that step: the NeWT mean of the
// last equals natssl eval's of the final checkpoint on the same tasks, and its kNN top-1 the
// one computed from that checkpoint's features.
func TestMonitorRecorded(t *testing.T) {
	cfg := smokeConfig(t, t.TempDir())
	rec := &recorder{}
	res, err := Train(context.Background(), cfg, TrainOptions{}, rec)
	if err != nil {
		t.Fatal(err)
	}
	var steps []int64
	for _, s := range rec.monitored {
		steps = append(steps, s.Step)
	}
	if !slices.Equal(steps, []int64{0, 3, 6}) {
		t.Fatalf("the observer saw the monitor at steps %v, want 0, 3, 6", steps)
	}
	if !rec.noticed("monitor every 3 steps: kNN top-1 on 56 images of 5 classes", "NeWT probe on 2 tasks") {
		t.Errorf("notices %q", rec.notices)
	}
	db := openDB(t, cfg)
	series := map[string][]experiments.Point{}
	for _, key := range []string{metric.MonitorKNN, metric.MonitorNeWT, metric.MonitorSeconds} {
		pts, err := db.MetricSeries(context.Background(), res.RunID, key)
		if err != nil {
			t.Fatal(err)
		}
		var at []int64
		for i, p := range pts {
			at = append(at, p.Step)
			if !(p.Value >= 0 && (p.Value <= 1 || key == metric.MonitorSeconds)) || p.Value != rec.monitored[i].Metrics[key] {
				t.Errorf("%s at step %d: %v in the tracker, %v shown", key, p.Step, p.Value, rec.monitored[i].Metrics[key])
			}
		}
		if !slices.Equal(at, []int64{0, 3, 6}) {
			t.Errorf("%s logged at steps %v", key, at)
		}
		series[key] = pts
	}

	ev, err := Evaluate(context.Background(), cfg, EvalOptions{Checkpoint: res.Checkpoint}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := series[metric.MonitorNeWT][2].Value; got != ev.Mean {
		t.Errorf("newt_mean at step 6 %v, natssl eval of the step-6 checkpoint %v", got, ev.Mean)
	}
	c, err := trainer.ReadCheckpoint(res.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	enc, _, err := c.Encoder()
	if err != nil {
		t.Fatal(err)
	}
	m, err := newMonitor(context.Background(), cfg, Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer m.close()
	s := &suite{Suite: &probe.Suite{IDs: m.knn.ids}, images: m.knn.images}
	f, err := extractFeatures(context.Background(), cfg, enc, s, 1, Discard)
	if err != nil {
		t.Fatal(err)
	}
	pred, err := probe.KNN(context.Background(), f.Data, m.knn.labels, f.Data, f.Dim, probe.KNNOptions{K: 20, Temperature: 0.07, LeaveOneOut: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := series[metric.MonitorKNN][2].Value, probe.Top1(pred, m.knn.labels); got != want {
		t.Errorf("knn_top1 at step 6 %v, from the step-6 checkpoint %v", got, want)
	}
}

// TestMonitorResumed: a run killed at step 4 and resumed goes on monitoring at step 6, into
// the same run's series.
func TestMonitorResumed(t *testing.T) {
	dir := t.TempDir()
	id := killAt(t, smokeConfig(t, dir), 4)
	rec := &recorder{}
	res, err := Train(context.Background(), smokeConfig(t, dir), TrainOptions{Resume: "auto"}, rec)
	if err != nil || res.RunID != id {
		t.Fatalf("resumed %+v, %v; want run %s", res, err, id)
	}
	if len(rec.monitored) != 1 || rec.monitored[0].Step != 6 {
		t.Errorf("the resumed run monitored %+v, want step 6 only", rec.monitored)
	}
	pts, err := openDB(t, smokeConfig(t, dir)).MetricSeries(context.Background(), id, metric.MonitorKNN)
	if err != nil {
		t.Fatal(err)
	}
	var at []int64
	for _, p := range pts {
		at = append(at, p.Step)
	}
	if !slices.Equal(at, []int64{0, 3, 6}) {
		t.Errorf("knn_top1 at steps %v, want 0, 3, 6", at)
	}
}

// TestMonitorFailureGoesOn: a monitor that cannot score (an image gone bad after the set was
// read) is reported, and training is not stopped.
func TestMonitorFailureGoesOn(t *testing.T) {
	cfg := smokeConfig(t, t.TempDir())
	rec := &recorder{}
	m, err := newMonitor(context.Background(), cfg, rec)
	if err != nil {
		t.Fatal(err)
	}
	defer m.close()
	enc, err := trainer.NewEncoder(cfg.Model, cfg.Data.ImageSize, cfg.Run.Seed)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := m.run(context.Background(), 3, enc)
	if err != nil || vals[metric.MonitorKNN] <= 0 || vals[metric.MonitorNeWT] <= 0 {
		t.Fatalf("scores %v, %v", vals, err)
	}
	m.knn.images.Data[m.knn.ids[0]] = []byte("not a jpeg")
	vals, err = m.run(context.Background(), 6, enc)
	if vals != nil || err != nil || !rec.noticed("monitor at step 6 failed; training goes on", m.knn.ids[0]) {
		t.Errorf("scores %v, %v, notices %q; want a notice naming the image", vals, err, rec.notices)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.run(ctx, 9, enc); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled monitor: %v, want the cancellation", err)
	}
}

// TestKNNSetChoice: the kNN set is the images whose keys hash lowest, the same whether the
// images are a folder or a tar of the same names; unusable sets are refused before training
// with the key, its value and where it came from.
func TestKNNSetChoice(t *testing.T) {
	smoke := smokeConfig(t, t.TempDir())
	dir := t.TempDir()
	folder := filepath.Join(dir, "folder")
	var names []string
	for i, class := range []string{"Ankle_boot", "Shirt", "Sneaker"} {
		files, _ := filepath.Glob(filepath.Join(smoke.Data.Source, class, "*.jpg"))
		for _, f := range files {
			name := fmt.Sprintf("%05d_%s/%s", i, class, filepath.Base(f))
			copyFile(t, f, filepath.Join(folder, name))
			names = append(names, name)
		}
	}
	sort.Slice(names, func(i, j int) bool { return keyHash(names[i]) < keyHash(names[j]) })
	want := slices.Clone(names[:10])
	sort.Strings(want)
	tarPath := filepath.Join(dir, "set.tar")
	writeTar(t, tarPath, folder, names, nil)
	badTar := filepath.Join(dir, "bad.tar")
	writeTar(t, badTar, folder, names, map[string][]byte{names[0]: []byte("not a jpeg")})
	unlabelled := filepath.Join(dir, "unlabelled.tar")
	writeTar(t, unlabelled, folder, names, map[string][]byte{"loose/x.jpg": nil})
	oneClass := filepath.Join(folder, "00000_Ankle_boot")
	// A named pipe and a file over data.max_image_bytes among the images: left out, never
	// waited on nor read whole.
	hostile := filepath.Join(dir, "hostile")
	for _, n := range names {
		copyFile(t, filepath.Join(folder, n), filepath.Join(hostile, n))
	}
	if err := syscall.Mkfifo(filepath.Join(hostile, "00001_Shirt", "pipe.jpg"), 0o644); err != nil {
		t.Fatal(err)
	}
	jpeg, err := os.ReadFile(filepath.Join(folder, names[0]))
	if err != nil {
		t.Fatal(err)
	}
	big := append(jpeg, make([]byte, 300<<10)...) // decodes: only the limit keeps it out
	if err := os.WriteFile(filepath.Join(hostile, "00002_Sneaker", "big.jpg"), big, 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, source string
		cap          string
		wantIDs      []string
		wantNotice   string
		wantErr      []string
	}{
		{"folder", folder, "10", want, "", nil},
		{"tar of the same names", tarPath, "10", want, "", nil},
		{"a cap above the set", tarPath, "1000", sorted(names), "", nil},
		{"an unreadable image is left out", badTar, "1000", sorted(names[1:]), "1 images of eval.monitor_knn " + badTar + " cannot be read", nil},
		{"an image without a label", unlabelled, "1000", nil, "", []string{"loose/x.jpg has no label", "labelled images"}},
		{"a named pipe and an image too large", hostile, "1000", sorted(names), "2 images of eval.monitor_knn " + hostile + " cannot be read", nil},
		{"one class", oneClass, "1000", nil, "", []string{"of 1 classes; a kNN score needs two classes"}},
		{"missing", filepath.Join(dir, "nowhere.tar"), "10", nil, "", []string{"nowhere.tar does not exist", `eval.monitor_knn is "` + dir, "--set eval.monitor_knn=", "eval.monitor_every=0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := smokeConfig(t, t.TempDir(), "eval.monitor_knn="+tt.source, "eval.monitor_knn_images="+tt.cap, "data.max_image_bytes=200000")
			rec := &recorder{}
			pipe, err := augment.New(cfg.Augment, cfg.Eval.ImageSize)
			if err != nil {
				t.Fatal(err)
			}
			w := pipe.NewWorker()
			defer w.Close()
			set, err := loadKNNSet(context.Background(), cfg, w, rec)
			if tt.wantErr != nil {
				for _, part := range tt.wantErr {
					if err == nil || !strings.Contains(err.Error(), part) {
						t.Errorf("error %v, want it to say %q", err, part)
					}
				}
				if strings.Contains(tt.name, "missing") && !errors.Is(err, loader.ErrNoSource) {
					t.Errorf("error %v does not wrap loader.ErrNoSource", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(set.ids, tt.wantIDs) {
				t.Errorf("ids %v, want %v", set.ids, tt.wantIDs)
			}
			for i, id := range set.ids {
				if want := int(id[4] - '0'); set.labels[i] != want || len(set.images.Data[id]) == 0 {
					t.Errorf("%s: label %d, %d bytes", id, set.labels[i], len(set.images.Data[id]))
				}
			}
			if tt.wantNotice != "" && !rec.noticed(tt.wantNotice) {
				t.Errorf("notices %q, want %q", rec.notices, tt.wantNotice)
			}
		})
	}
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return out
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeTar packs the files names of folder into a tar, in reverse order (the choice must not
// depend on it); replace gives other bytes for some names, and adds names not in the folder.
func writeTar(t *testing.T, path, folder string, names []string, replace map[string][]byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	add := func(name string, b []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	for i := len(names) - 1; i >= 0; i-- {
		b, ok := replace[names[i]]
		if !ok {
			if b, err = os.ReadFile(filepath.Join(folder, names[i])); err != nil {
				t.Fatal(err)
			}
		}
		add(names[i], b)
	}
	for name, b := range replace {
		if !slices.Contains(names, name) {
			if b == nil {
				b, _ = os.ReadFile(filepath.Join(folder, names[0]))
			}
			add(name, b)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestMonitorTasks: the NeWT monitor's tasks take turns over (cluster, subcluster), in the
// order the groups first appear, and keep the suite's order.
func TestMonitorTasks(t *testing.T) {
	suite := &probe.Suite{}
	for i, g := range []string{"a/x", "a/x", "a/y", "b/x", "a/x", "b/x", "a/y"} {
		cs := strings.Split(g, "/")
		suite.Tasks = append(suite.Tasks, &probe.Task{Name: fmt.Sprintf("t%d", i), Cluster: cs[0], Subcluster: cs[1],
			Train: []probe.Sample{{ID: fmt.Sprintf("t%d-train", i)}}, Test: []probe.Sample{{ID: fmt.Sprintf("t%d-test", i)}}})
	}
	tests := []struct {
		n    int
		want []string
	}{
		{1, []string{"t0"}},
		{3, []string{"t0", "t2", "t3"}},
		{4, []string{"t0", "t1", "t2", "t3"}},
		{6, []string{"t0", "t1", "t2", "t3", "t5", "t6"}},
		{99, []string{"t0", "t1", "t2", "t3", "t4", "t5", "t6"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.n), func(t *testing.T) {
			s := monitorTasks(suite, tt.n)
			var got, ids []string
			for _, task := range s.Tasks {
				got = append(got, task.Name)
				ids = append(ids, task.Name+"-train", task.Name+"-test")
			}
			if !slices.Equal(got, tt.want) || !slices.Equal(s.IDs, ids) {
				t.Errorf("tasks %v ids %v, want %v", got, s.IDs, tt.want)
			}
		})
	}
}

// TestMonitorSuiteRefusals: a NeWT monitor whose suite is missing, or whose tasks are too small
// for the probe, is refused before training, naming the key that points at it.
func TestMonitorSuiteRefusals(t *testing.T) {
	dir := t.TempDir()
	smoke := smokeConfig(t, dir)
	small := filepath.Join(dir, "small.csv")
	b, err := os.ReadFile(smoke.Eval.NewtCSV)
	if err != nil {
		t.Fatal(err)
	}
	// The first task keeps 2 train images of label 0.
	var lines []string
	zeros := 0
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if strings.Contains(l, ",0,") && strings.Contains(l, ",train,") && strings.Contains(l, "tshirt_vs_shirt") {
			if zeros++; zeros > 2 {
				continue
			}
		}
		lines = append(lines, l)
	}
	if err := os.WriteFile(small, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		sets []string
		want []string
	}{
		{"the evaluation's suite missing", []string{"eval.newt_csv=" + filepath.Join(dir, "none.csv")},
			[]string{"none.csv", `eval.newt_csv is "` + dir, "--set eval.newt_csv=", "eval.monitor_every=0"}},
		{"its own images missing", []string{"eval.monitor_newt_images=" + filepath.Join(dir, "none")},
			[]string{`eval.monitor_newt_images is "` + dir}},
		{"a task too small", []string{"eval.monitor_newt_csv=" + small},
			[]string{"small.csv", `task "fmnist_tshirt_vs_shirt" has 2/`, "3-fold cross-validation needs 3 of each"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := smokeConfig(t, dir, tt.sets...)
			_, err := Train(context.Background(), cfg, TrainOptions{}, nil)
			for _, part := range tt.want {
				if err == nil || !strings.Contains(err.Error(), part) {
					t.Errorf("error %v, want it to say %q", err, part)
				}
			}
		})
	}
}
