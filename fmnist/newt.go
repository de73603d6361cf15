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

// SuiteRow is one row of the suite's labels.csv.
type SuiteRow struct {
	Index int // image index in the test split
	Task  TaskSpec
	Label int    // 0 for Task.A, 1 for Task.B
	Split string // train or test
}

// BuildSuite chooses the suite's images from the test split: for each class, its images in an
// order shuffled by seed; each task in turn takes the next 2*perClass of each of its classes,
// the first perClass for train and the rest for test. Tasks therefore never share an image.
// Rows are grouped by task and, within a task, in image order (train and test interleaved, as
// NeWT's CSV is sorted by id).
func BuildSuite(test *Split, seed uint64, perClass int) ([]SuiteRow, error) {
	byClass := classOrder(test, seed)
	var next [10]int
	var rows []SuiteRow
	for _, t := range Tasks {
		var task []SuiteRow
		for label, c := range []int{t.A, t.B} {
			if next[c]+2*perClass > len(byClass[c]) {
				return nil, fmt.Errorf("fmnist: task %s needs %d more %s images, %d left", t.Name, 2*perClass, Classes[c], len(byClass[c])-next[c])
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

// classOrder lists each class's images of split s in an order shuffled by seed.
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

// WriteLabelsCSV writes rows in the NeWT labels layout.
func WriteLabelsCSV(w io.Writer, test *Split, rows []SuiteRow) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"id", "task_cluster", "task_subcluster", "task", "label", "text_label", "split", "height", "width"})
	for _, r := range rows {
		c := r.Task.A
		if r.Label == 1 {
			c = r.Task.B
		}
		cw.Write([]string{TestID(r.Index), Cluster, r.Task.Subcluster, r.Task.Name, strconv.Itoa(r.Label), Classes[c], r.Split,
			strconv.Itoa(test.Rows), strconv.Itoa(test.Cols)})
	}
	cw.Flush()
	return cw.Error()
}

func writeSuite(ctx context.Context, test *Split, opt Options, sum *Summary) ([]SuiteRow, error) {
	rows, err := BuildSuite(test, opt.Seed, opt.PerClass)
	if err != nil {
		return nil, err
	}
	sum.LabelsCSV = filepath.Join(opt.Out, "newt", "labels.csv")
	if err := writeFile(sum.LabelsCSV, func(w io.Writer) error { return WriteLabelsCSV(w, test, rows) }); err != nil {
		return nil, err
	}
	sum.ImagesTar = filepath.Join(opt.Out, "newt", "images.tar.gz")
	var buf bytes.Buffer
	err = writeFile(sum.ImagesTar, func(w io.Writer) error {
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
			if err := EncodeJPEG(test, r.Index, opt.Quality, &buf); err != nil {
				return fmt.Errorf("encode %s: %w", TestID(r.Index), err)
			}
			if err := addMember(tw, "images/"+TestID(r.Index)+".jpg", buf.Bytes()); err != nil {
				return err
			}
		}
		if err := tw.Close(); err != nil {
			return err
		}
		return zw.Close()
	})
	if err != nil {
		return nil, err
	}
	sum.Tasks = len(Tasks)
	sum.SuiteImages = len(rows)
	return rows, nil
}
