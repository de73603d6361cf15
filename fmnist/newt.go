package fmnist

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strconv"
)

// TaskSpec is one binary task of the suite: class A is label 0, class B label 1.
type TaskSpec struct {
	Name       string
	Subcluster string
	A, B       int
}

// Tasks are the suite's tasks: pairs of classes that are easily confused (the clothes worn
// on the upper body, footwear, and dresses against their neighbours).
var Tasks = []TaskSpec{
	{"fmnist_tshirt_vs_shirt", "tops", 0, 6},
	{"fmnist_pullover_vs_coat", "tops", 2, 4},
	{"fmnist_coat_vs_shirt", "tops", 4, 6},
	{"fmnist_pullover_vs_shirt", "tops", 2, 6},
	{"fmnist_tshirt_vs_pullover", "tops", 0, 2},
	{"fmnist_sneaker_vs_ankle_boot", "footwear", 7, 9},
	{"fmnist_sandal_vs_sneaker", "footwear", 5, 7},
	{"fmnist_sandal_vs_ankle_boot", "footwear", 5, 9},
	{"fmnist_dress_vs_coat", "dresses", 3, 4},
	{"fmnist_tshirt_vs_dress", "dresses", 0, 3},
}

// Cluster is the NeWT task_cluster of every task of the suite.
const Cluster = "appearance"

// SuiteRow is one row of a suite's labels.csv.
type SuiteRow struct {
	Index int // image index in the split the suite was built from
	Task  TaskSpec
	Label int    // 0 for Task.A, 1 for Task.B
	Split string // train or test
}

// BuildSuite chooses a suite's images from split s (the test split for the evaluation suite,
// the training split for the validation suite): for each class, its images in an order
// shuffled by seed; each task in turn takes the next 2*perClass of each of its classes, the
// first perClass for train and the rest for test. Tasks therefore never share an image. Rows are
// grouped by task and, within a task, in image order (train and test interleaved, as NeWT's CSV
// is sorted by id).
func BuildSuite(s *Split, seed uint64, perClass int) ([]SuiteRow, error) {
	byClass := classOrder(s, seed)
	var next [10]int
	var rows []SuiteRow
	for _, t := range Tasks {
		var task []SuiteRow
		for label, c := range []int{t.A, t.B} {
			if next[c]+2*perClass > len(byClass[c]) {
				return nil, fmt.Errorf("fmnist: task %s needs %d more %s images of the %s split, %d left", t.Name, 2*perClass, Classes[c], s.Name, len(byClass[c])-next[c])
			}
			for k := 0; k < 2*perClass; k++ {
				split := "train"
				if k >= perClass {
					split = "test"
				}
				task = append(task, SuiteRow{Index: byClass[c][next[c]+k], Task: t, Label: label, Split: split})
			}
			next[c] += 2 * perClass
		}
		sort.Slice(task, func(i, j int) bool { return task[i].Index < task[j].Index })
		rows = append(rows, task...)
	}
	return rows, nil
}

// classOrder lists each class's images of split s in an order shuffled by seed: the order a
// suite takes its images in, and the monitor set after the evaluation suite.
func classOrder(s *Split, seed uint64) [10][]int {
	var byClass [10][]int
	for i, l := range s.Labels {
		byClass[l] = append(byClass[l], i)
	}
	for c := range byClass {
		rng := rand.New(rand.NewPCG(seed, uint64(c)+1))
		rng.Shuffle(len(byClass[c]), func(i, j int) { byClass[c][i], byClass[c][j] = byClass[c][j], byClass[c][i] })
	}
	return byClass
}

// WriteLabelsCSV writes rows, chosen from split s, in the NeWT labels layout.
func WriteLabelsCSV(w io.Writer, s *Split, rows []SuiteRow) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"id", "task_cluster", "task_subcluster", "task", "label", "text_label", "split", "height", "width"})
	for _, r := range rows {
		c := r.Task.A
		if r.Label == 1 {
			c = r.Task.B
		}
		cw.Write([]string{s.ID(r.Index), Cluster, r.Task.Subcluster, r.Task.Name, strconv.Itoa(r.Label), Classes[c], r.Split,
			strconv.Itoa(s.Rows), strconv.Itoa(s.Cols)})
	}
	cw.Flush()
	return cw.Error()
}

// valPool is how many of the first training images the validation suite is chosen from:
// enough for every class's share (a class is in up to four tasks, each taking 2 × perClass of
// it) in Fashion-MNIST's near-balanced order, without decompressing the whole split.
func valPool(perClass int) int { return 120 * perClass }

// BuildValidation reads the training images of the validation suite from the idx files in dir
// and chooses the suite among them as BuildSuite does: from the first valPool(perClass) images,
// or from the whole split where those are too few.
func BuildValidation(dir string, seed uint64, perClass int) (*Split, []SuiteRow, error) {
	train, err := LoadN(dir, "train", valPool(perClass))
	if err != nil {
		return nil, nil, err
	}
	rows, err := BuildSuite(train, seed, perClass)
	if err != nil && train.Len() == valPool(perClass) {
		if train, err = Load(dir, "train"); err != nil {
			return nil, nil, err
		}
		rows, err = BuildSuite(train, seed, perClass)
	}
	if err != nil {
		return nil, nil, err
	}
	return train, rows, nil
}

// writeSuite writes a suite of rows chosen from split s under opt.Out/sub: labels.csv and
// images.tar.gz (members images/<id>.jpg).
func writeSuite(ctx context.Context, s *Split, rows []SuiteRow, opt Options, sub string) (labels, images string, err error) {
	labels = filepath.Join(opt.Out, sub, "labels.csv")
	if err := writeFile(labels, func(w io.Writer) error { return WriteLabelsCSV(w, s, rows) }); err != nil {
		return "", "", err
	}
	images = filepath.Join(opt.Out, sub, "images.tar.gz")
	var buf bytes.Buffer
	err = writeFile(images, func(w io.Writer) error {
		zw, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
		if err != nil {
			return err
		}
		zw.ModTime = epoch
		tw := tar.NewWriter(zw)
		for k, r := range rows {
			if k%512 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			if err := EncodeJPEG(s, r.Index, opt.Quality, &buf); err != nil {
				return fmt.Errorf("encode %s: %w", s.ID(r.Index), err)
			}
			if err := addMember(tw, "images/"+s.ID(r.Index)+".jpg", buf.Bytes()); err != nil {
				return err
			}
		}
		if err := tw.Close(); err != nil {
			return err
		}
		return zw.Close()
	})
	if err != nil {
		return "", "", err
	}
	return labels, images, nil
}
