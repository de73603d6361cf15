package fmnist

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sort"
)

// MonitorImage is one image of the monitor set: its index in the test split and its class.
type MonitorImage struct {
	Index, Label int
}

// BuildMonitor chooses the monitor set, labelled images for the online kNN score held apart
// from the suite: for each class, the first perClass of its test images in the suite's seeded
// order that the suite does not use. It returns them in image order.
func BuildMonitor(test *Split, seed uint64, suite []SuiteRow, perClass int) ([]MonitorImage, error) {
	used := make(map[int]bool, len(suite))
	for _, r := range suite {
		used[r.Index] = true
	}
	var out []MonitorImage
	for c, order := range classOrder(test, seed) {
		took := 0
		for _, i := range order {
			if took == perClass {
				break
			}
			if !used[i] {
				out = append(out, MonitorImage{Index: i, Label: c})
				took++
			}
		}
		if took < perClass {
			return nil, fmt.Errorf("fmnist: the monitor set needs %d %s images outside the suite, %d are left", perClass, Classes[c], took)
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Index < out[b].Index })
	return out, nil
}

// MonitorMember is the archive name of a monitor image: its class folder in the iNat 2021
// layout, whose leading number natssl reads as the label ("00003_Dress/fmnist-test-01234.jpg").
func MonitorMember(m MonitorImage) string {
	return CategoryDir(m.Label) + "/" + TestID(m.Index) + ".jpg"
}

// writeMonitor writes the monitor set as one tar of class folders (eval.monitor_knn).
func writeMonitor(ctx context.Context, test *Split, suite []SuiteRow, opt Options, sum *Summary) error {
	set, err := BuildMonitor(test, opt.Seed, suite, opt.MonitorPerClass)
	if err != nil {
		return err
	}
	sum.MonitorTar = filepath.Join(opt.Out, "monitor", "images.tar")
	var buf bytes.Buffer
	err = writeFile(sum.MonitorTar, func(w io.Writer) error {
		tw := tar.NewWriter(w)
		for k, m := range set {
			if k%512 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			if err := EncodeJPEG(test, m.Index, opt.Quality, &buf); err != nil {
				return fmt.Errorf("encode %s: %w", TestID(m.Index), err)
			}
			if err := addMember(tw, MonitorMember(m), buf.Bytes()); err != nil {
				return err
			}
		}
		return tw.Close()
	})
	if err != nil {
		return err
	}
	sum.MonitorImages = len(set)
	return nil
}
