package fmnist

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"image/jpeg"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/loader"
	"github.com/natssl/natssl/probe"
)

func TestLoadNotInstalled(t *testing.T) {
	_, err := Load(t.TempDir(), "train")
	if !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), InstallHint) || !strings.Contains(err.Error(), "--from") {
		t.Errorf("error %v, want ErrNotInstalled with %q and --from", err, InstallHint)
	}
	if _, err := Load(t.TempDir(), "val"); err == nil || !strings.Contains(err.Error(), `unknown split "val"`) {
		t.Errorf("split val: error %v", err)
	}
}

func TestParseIDX(t *testing.T) {
	for _, c := range []struct {
		name, file string
		dims       []int
	}{
		{"labels", "testdata/tiny-labels-idx1-ubyte", []int{5}},
		{"images", "testdata/tiny-images-idx3-ubyte", []int{2, 2, 3}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := os.ReadFile(c.file)
			if err != nil {
				t.Fatal(err)
			}
			a, err := parseIDX(bytes.NewReader(b), c.file, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(a.dims) != len(c.dims) || len(a.data) != len(b)-4-4*len(c.dims) {
				t.Errorf("dims %v with %d bytes", a.dims, len(a.data))
			}
			if _, err := parseIDX(bytes.NewReader(b[:len(b)-1]), c.file, 0); err == nil || !strings.Contains(err.Error(), "data") {
				t.Errorf("truncated: error %v", err)
			}
		})
	}
	b, _ := os.ReadFile("testdata/tiny-labels-idx1-ubyte")
	if a, err := parseIDX(bytes.NewReader(b), "tiny", 2); err != nil || len(a.data) != 2 || a.data[1] != 3 || a.dims[0] != 2 {
		t.Errorf("limit 2: %+v, %v", a, err)
	}
	if _, err := parseIDX(bytes.NewReader([]byte{0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0}), "floats", 0); err == nil || !strings.Contains(err.Error(), "magic") {
		t.Errorf("float idx: error %v", err)
	}
}

func FuzzParseIDX(f *testing.F) {
	for _, p := range []string{"testdata/tiny-labels-idx1-ubyte", "testdata/tiny-images-idx3-ubyte"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := parseIDX(bytes.NewReader(b), "fuzz", 0)
		if err != nil {
			return
		}
		n := 1
		for _, d := range a.dims {
			n *= d
		}
		if n != len(a.data) {
			t.Fatalf("dims %v but %d values", a.dims, len(a.data))
		}
	})
}

func loadTest(t *testing.T) *Split {
	t.Helper()
	s, err := Load(DefaultDir, "test")
	if err != nil {
		t.Fatalf("these tests read Debian's dataset-fashion-mnist (CI installs it): %v", err)
	}
	return s
}

func TestBuildSuite(t *testing.T) {
	test := loadTest(t)
	if test.Len() != 10000 || test.Rows != 28 || test.Cols != 28 {
		t.Fatalf("test split: %d images of %dx%d", test.Len(), test.Rows, test.Cols)
	}
	a, err := BuildSuite(test, 1, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != len(Tasks)*400 {
		t.Fatalf("%d rows, want %d", len(a), len(Tasks)*400)
	}
	seen := map[int]bool{}
	for _, r := range a {
		if seen[r.Index] {
			t.Fatalf("image %d used twice", r.Index)
		}
		seen[r.Index] = true
		want := r.Task.A
		if r.Label == 1 {
			want = r.Task.B
		}
		if int(test.Labels[r.Index]) != want {
			t.Fatalf("row %+v: image is a %s", r, Classes[test.Labels[r.Index]])
		}
	}
	b, _ := BuildSuite(test, 1, 100)
	c, _ := BuildSuite(test, 2, 100)
	if a[0] != b[0] || a[len(a)-1] != b[len(b)-1] {
		t.Error("the same seed chose different images")
	}
	same := 0
	for i := range a {
		if a[i].Index == c[i].Index {
			same++
		}
	}
	if same > len(a)/10 {
		t.Errorf("seeds 1 and 2 share %d of %d rows", same, len(a))
	}
	if _, err := BuildSuite(test, 1, 400); err == nil || !strings.Contains(err.Error(), "needs 800 more") {
		t.Errorf("too many per class: error %v", err)
	}
}

func TestBuildMonitor(t *testing.T) {
	test := loadTest(t)
	suite, err := BuildSuite(test, 1, 100)
	if err != nil {
		t.Fatal(err)
	}
	inSuite := map[int]bool{}
	for _, r := range suite {
		inSuite[r.Index] = true
	}
	a, err := BuildMonitor(test, 1, suite, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 1000 {
		t.Fatalf("%d images, want 1000", len(a))
	}
	var perClass [10]int
	for i, m := range a {
		if inSuite[m.Index] {
			t.Fatalf("image %d is in the suite too", m.Index)
		}
		if int(test.Labels[m.Index]) != m.Label {
			t.Fatalf("image %d labelled %s is a %s", m.Index, Classes[m.Label], Classes[test.Labels[m.Index]])
		}
		if i > 0 && a[i-1].Index >= m.Index {
			t.Fatalf("images not in index order at %d", i)
		}
		perClass[m.Label]++
	}
	if perClass != [10]int{100, 100, 100, 100, 100, 100, 100, 100, 100, 100} {
		t.Errorf("images per class %v", perClass)
	}
	if b, _ := BuildMonitor(test, 1, suite, 100); b[0] != a[0] || b[999] != a[999] {
		t.Error("the same seed chose different images")
	}
	// T-shirts are in three tasks of the suite: 600 of the 1,000 are taken.
	if _, err := BuildMonitor(test, 1, suite, 401); err == nil || !strings.Contains(err.Error(), "401 T-shirt_top images outside the suite, 400 are left") {
		t.Errorf("too many per class: error %v", err)
	}
}

func TestConvertSmall(t *testing.T) {
	out := t.TempDir()
	opt := Options{Out: out, TrainLimit: 50, Shards: 3, PerClass: 5, Seed: 7, MonitorPerClass: 3}
	sum, err := Convert(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	if sum.TrainImages != 50 || len(sum.Shards) != 3 || sum.RootPattern != filepath.Join(out, "train-{000..002}.tar") {
		t.Errorf("summary %+v", sum)
	}
	var m struct {
		Images      []manifestImage      `json:"images"`
		Annotations []manifestAnnotation `json:"annotations"`
		Categories  []manifestCategory   `json:"categories"`
	}
	b, err := os.ReadFile(sum.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("train.json: %v", err)
	}
	if len(m.Images) != 50 || len(m.Annotations) != 50 || len(m.Categories) != 10 {
		t.Fatalf("manifest: %d images, %d annotations, %d categories", len(m.Images), len(m.Annotations), len(m.Categories))
	}
	names := map[string]int{}
	for _, im := range m.Images {
		names[im.FileName] = im.ID
	}
	train, err := LoadN(DefaultDir, "train", 50)
	if err != nil {
		t.Fatal(err)
	}
	members := 0
	for _, shard := range sum.Shards {
		f, err := os.Open(shard)
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(f)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			id, ok := names[h.Name]
			if !ok {
				t.Fatalf("%s: member %s is not a file_name of the manifest", shard, h.Name)
			}
			if want := "train/" + CategoryDir(int(train.Labels[id])) + "/"; !strings.HasPrefix(h.Name, want) {
				t.Errorf("%s is not under %s", h.Name, want)
			}
			img, err := jpeg.Decode(tr)
			if err != nil {
				t.Fatalf("%s: %v", h.Name, err)
			}
			if img.Bounds().Dx() != 28 {
				t.Errorf("%s: %v", h.Name, img.Bounds())
			}
			members++
		}
		f.Close()
	}
	if members != 50 {
		t.Errorf("%d members in the shards, want 50", members)
	}

	suite, err := probe.LoadSuite(sum.LabelsCSV)
	if err != nil {
		t.Fatalf("labels.csv does not validate as a NeWT suite: %v", err)
	}
	if len(suite.Tasks) != len(Tasks) || suite.Len() != len(Tasks)*20 {
		t.Errorf("%d tasks, %d images; want %d, %d", len(suite.Tasks), suite.Len(), len(Tasks), len(Tasks)*20)
	}
	if _, err := probe.ReadImages(context.Background(), sum.ImagesTar, suite.IDs); err != nil {
		t.Errorf("images.tar.gz: %v", err)
	}

	// The monitor set, read as natssl reads eval.monitor_knn: labelled by its class folders,
	// none of its images in the suite.
	if sum.MonitorImages != 30 || sum.MonitorTar != filepath.Join(out, "monitor", "images.tar") {
		t.Errorf("monitor set: %d images in %s", sum.MonitorImages, sum.MonitorTar)
	}
	testSplit := loadTest(t)
	inSuite := map[string]bool{}
	for _, id := range suite.IDs {
		inSuite[id] = true
	}
	read := 0
	for _, rec := range monitorRecords(t, sum.MonitorTar) {
		var idx int
		if _, err := fmt.Sscanf(path.Base(rec.Key), "fmnist-test-%05d.jpg", &idx); err != nil {
			t.Fatalf("member %s: %v", rec.Key, err)
		}
		if rec.Label != int(testSplit.Labels[idx]) || inSuite[TestID(idx)] {
			t.Errorf("member %s: label %d, in the suite %v", rec.Key, rec.Label, inSuite[TestID(idx)])
		}
		read++
	}
	if read != 30 {
		t.Errorf("%d monitor images read, want 30", read)
	}

	// The same options write the same bytes.
	again := t.TempDir()
	opt.Out = again
	if _, err := Convert(context.Background(), opt); err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"train.json", "train-001.tar", "newt/labels.csv", "newt/images.tar.gz", "monitor/images.tar",
		"val/labels.csv", "val/images.tar.gz"} {
		if digest(t, filepath.Join(out, rel)) != digest(t, filepath.Join(again, rel)) {
			t.Errorf("%s differs between two runs", rel)
		}
	}
	zr, _ := os.Open(sum.ImagesTar)
	defer zr.Close()
	if _, err := gzip.NewReader(zr); err != nil {
		t.Errorf("images.tar.gz is not gzip: %v", err)
	}
}

func digest(t *testing.T, p string) [32]byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// TestValidationSuiteDisjoint holds the validation suite apart from the test images that
// natssl data fashion-mnist writes (the evaluation suite and the monitor's kNN set): no image id
// in both, and no validation image with the pixels of one of theirs, so that a recipe chosen on
// the validation suite has never seen them. It has the evaluation suite's tasks and layout,
// drawn from the training split.
func TestValidationSuiteDisjoint(t *testing.T) {
	sum, err := Convert(context.Background(), Options{Out: t.TempDir(), TrainLimit: 40, Shards: 2, PerClass: 6, Seed: 3, MonitorPerClass: 20})
	if err != nil {
		t.Fatal(err)
	}
	eval, err := probe.LoadSuite(sum.LabelsCSV)
	if err != nil {
		t.Fatal(err)
	}
	val, err := probe.LoadSuite(sum.ValLabelsCSV)
	if err != nil {
		t.Fatalf("val/labels.csv does not validate as a NeWT suite: %v", err)
	}
	if val.Len() != eval.Len() || len(val.Tasks) != len(eval.Tasks) || sum.ValImages != val.Len() {
		t.Errorf("validation suite: %d tasks, %d images (summary %d); evaluation suite: %d, %d",
			len(val.Tasks), val.Len(), sum.ValImages, len(eval.Tasks), eval.Len())
	}
	for i := range val.Tasks {
		if val.Tasks[i].Name != eval.Tasks[i].Name {
			t.Errorf("task %d: %s in the validation suite, %s in the evaluation suite", i, val.Tasks[i].Name, eval.Tasks[i].Name)
		}
	}
	train, _, err := BuildValidation(DefaultDir, 3, 6)
	if err != nil {
		t.Fatal(err)
	}
	test := loadTest(t)
	heldOut := map[string]bool{}           // the test images written: their ids
	heldOutPixels := map[[32]byte]string{} // and their pixels
	hold := func(id string) {
		var i int
		if _, err := fmt.Sscanf(id, "fmnist-test-%05d", &i); err != nil {
			t.Fatalf("test image id %s: %v", id, err)
		}
		heldOut[id] = true
		heldOutPixels[sha256.Sum256(test.Image(i))] = id
	}
	for _, id := range eval.IDs {
		hold(id)
	}
	for _, rec := range monitorRecords(t, sum.MonitorTar) {
		hold(strings.TrimSuffix(path.Base(rec.Key), ".jpg"))
	}
	if want := len(eval.IDs) + sum.MonitorImages; len(heldOut) != want || sum.MonitorImages != 200 {
		t.Fatalf("%d distinct test images in the evaluation suite and the monitor set (%d), want %d", len(heldOut), sum.MonitorImages, want)
	}
	for _, id := range val.IDs {
		if heldOut[id] {
			t.Errorf("image %s is in the validation suite and among the test images", id)
		}
		var i int
		if _, err := fmt.Sscanf(id, "fmnist-train-%05d", &i); err != nil {
			t.Fatalf("validation id %s is not a training image: %v", id, err)
		}
		if e, ok := heldOutPixels[sha256.Sum256(train.Image(i))]; ok {
			t.Errorf("validation image %s has the pixels of test image %s", id, e)
		}
	}
	if _, err := probe.ReadImages(context.Background(), sum.ValImagesTar, val.IDs); err != nil {
		t.Errorf("val/images.tar.gz: %v", err)
	}
}

// monitorRecords reads the monitor set's images as eval.monitor_knn does.
func monitorRecords(t *testing.T, tarPath string) []loader.Record {
	t.Helper()
	src, err := loader.Open(context.Background(), configs.Data{Source: tarPath})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var out []loader.Record
	for _, sh := range src.Shards() {
		recs, err := sh.Open(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for {
			rec, err := recs.Next(context.Background())
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, rec)
		}
		recs.Close()
	}
	return out
}
