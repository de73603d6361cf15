package fmnist

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/natssl/natssl/internal/atomicfile"
)

// Options configure Convert. Zero values mean the defaults noted.
type Options struct {
	From string // idx files; default DefaultDir
	Out  string // output folder (created)
	Seed uint64 // chooses the suite's images
	// Shards is the number of tar shards of the training images; default 6.
	Shards int
	// TrainLimit keeps only the first TrainLimit training images (0: all 60,000); for fast tests.
	TrainLimit int
	// PerClass is the number of train (and of test) images per class per task; default 100.
	PerClass int
	// Quality is the JPEG quality; default 95.
	Quality int
	// MonitorPerClass is the number of test images per class, outside the suite, in the
	// monitor set; default 100.
	MonitorPerClass int
}

func (o Options) withDefaults() Options {
	if o.From == "" {
		o.From = DefaultDir
	}
	if o.Shards <= 0 {
		o.Shards = 6
	}
	if o.PerClass <= 0 {
		o.PerClass = 100
	}
	if o.Quality <= 0 {
		o.Quality = 95
	}
	if o.MonitorPerClass <= 0 {
		o.MonitorPerClass = 100
	}
	return o
}

// Summary says what Convert wrote.
type Summary struct {
	Manifest    string   `json:"manifest"`     // train.json
	Shards      []string `json:"shards"`       // the tar shards, in order
	RootPattern string   `json:"root_pattern"` // data.root for the shards, e.g. DIR/train-{000..005}.tar
	TrainImages int      `json:"train_images"`
	LabelsCSV   string   `json:"labels_csv"`
	ImagesTar   string   `json:"images_tar"`
	Tasks       int      `json:"tasks"`
	SuiteImages int      `json:"suite_images"`
	// The validation suite: the same tasks built from the training split, for choosing a recipe
	// without looking at the evaluation suite (whose images are the test split's).
	ValLabelsCSV string `json:"val_labels_csv"`
	ValImagesTar string `json:"val_images_tar"`
	ValImages    int    `json:"val_images"`
	// The monitor set: labelled test images outside the evaluation suite, in class folders.
	MonitorTar    string `json:"monitor_tar"`
	MonitorImages int    `json:"monitor_images"`
}

// Convert reads the dataset from opt.From and writes under opt.Out the training set, the
// NeWT-layout evaluation suite and the monitor set (both from the test split), and the
// validation suite (from the training split). Every file is written under a temporary name and
// renamed when complete, and the same options give the same bytes.
func Convert(ctx context.Context, opt Options) (*Summary, error) {
	opt = opt.withDefaults()
	train, err := LoadN(opt.From, "train", opt.TrainLimit)
	if err != nil {
		return nil, err
	}
	test, err := Load(opt.From, "test")
	if err != nil {
		return nil, err
	}
	for _, sub := range []string{"newt", "val", "monitor"} {
		if err := os.MkdirAll(filepath.Join(opt.Out, sub), 0o755); err != nil {
			return nil, fmt.Errorf("fmnist: create %s: %w", opt.Out, err)
		}
	}
	sum := &Summary{Tasks: len(Tasks)}
	if err := writeTrain(ctx, train, opt, sum); err != nil {
		return nil, err
	}
	rows, err := BuildSuite(test, opt.Seed, opt.PerClass)
	if err != nil {
		return nil, err
	}
	if sum.LabelsCSV, sum.ImagesTar, err = writeSuite(ctx, test, rows, opt, "newt"); err != nil {
		return nil, err
	}
	sum.SuiteImages = len(rows)
	if err := writeMonitor(ctx, test, rows, opt, sum); err != nil {
		return nil, err
	}
	// The validation suite is the same whatever TrainLimit is: it has a pool of its own.
	pool, valRows, err := BuildValidation(opt.From, opt.Seed, opt.PerClass)
	if err != nil {
		return nil, err
	}
	if sum.ValLabelsCSV, sum.ValImagesTar, err = writeSuite(ctx, pool, valRows, opt, "val"); err != nil {
		return nil, err
	}
	sum.ValImages = len(valRows)
	return sum, nil
}

// epoch is the modification time of every archive member, so that output is reproducible.
var epoch = time.Date(2017, 8, 28, 0, 0, 0, 0, time.UTC)

// TrainID is the id of training image i, as the manifest's file names and the validation
// suite's labels.csv write it.
func TrainID(i int) string { return fmt.Sprintf("fmnist-train-%05d", i) }

// TestID is the id of test image i, as the evaluation suite's labels.csv writes it.
func TestID(i int) string { return fmt.Sprintf("fmnist-test-%05d", i) }

// ID is the id of image i of the split: TrainID or TestID.
func (s *Split) ID(i int) string {
	if s.Name == "test" {
		return TestID(i)
	}
	return TrainID(i)
}

// CategoryDir is the iNat 2021-style folder of a class: 00003_Dress.
func CategoryDir(label int) string { return fmt.Sprintf("%05d_%s", label, Classes[label]) }

// EncodeJPEG encodes one grayscale image of s as a single-component JPEG.
func EncodeJPEG(s *Split, i, quality int, buf *bytes.Buffer) error {
	img := &image.Gray{Pix: s.Image(i), Stride: s.Cols, Rect: image.Rect(0, 0, s.Cols, s.Rows)}
	buf.Reset()
	return jpeg.Encode(buf, img, &jpeg.Options{Quality: quality})
}

type manifestImage struct {
	ID       int    `json:"id"`
	FileName string `json:"file_name"`
	Width    int    `json:"width"`
	Height   int    `json:"height"`
}

type manifestAnnotation struct {
	ID         int `json:"id"`
	ImageID    int `json:"image_id"`
	CategoryID int `json:"category_id"`
}

type manifestCategory struct {
	ID            int    `json:"id"`
	Name          string `json:"name"`
	Supercategory string `json:"supercategory"`
	ImageDirName  string `json:"image_dir_name"`
}

func writeTrain(ctx context.Context, s *Split, opt Options, sum *Summary) error {
	n := s.Len()
	if opt.TrainLimit > 0 && opt.TrainLimit < n {
		n = opt.TrainLimit
	}
	shards := min(opt.Shards, n)
	last := fmt.Sprintf("%03d", shards-1)
	sum.RootPattern = filepath.Join(opt.Out, "train-{000.."+last+"}.tar")
	if shards == 1 {
		sum.RootPattern = filepath.Join(opt.Out, "train-000.tar")
	}
	var buf bytes.Buffer
	for k := 0; k < shards; k++ {
		p := filepath.Join(opt.Out, fmt.Sprintf("train-%03d.tar", k))
		err := writeFile(p, func(w io.Writer) error {
			tw := tar.NewWriter(w)
			for i := k * n / shards; i < (k+1)*n/shards; i++ {
				if i%1024 == 0 && ctx.Err() != nil {
					return ctx.Err()
				}
				if err := EncodeJPEG(s, i, opt.Quality, &buf); err != nil {
					return fmt.Errorf("encode %s: %w", TrainID(i), err)
				}
				if err := addMember(tw, trainFileName(s, i), buf.Bytes()); err != nil {
					return err
				}
			}
			return tw.Close()
		})
		if err != nil {
			return err
		}
		sum.Shards = append(sum.Shards, p)
	}
	sum.Manifest = filepath.Join(opt.Out, "train.json")
	sum.TrainImages = n
	return writeFile(sum.Manifest, func(w io.Writer) error { return writeManifest(w, s, n) })
}

func trainFileName(s *Split, i int) string {
	return "train/" + CategoryDir(int(s.Labels[i])) + "/" + TrainID(i) + ".jpg"
}

// writeManifest writes the COCO-style manifest one element at a time.
func writeManifest(w io.Writer, s *Split, n int) error {
	enc := json.NewEncoder(w)
	put := func(str string) { io.WriteString(w, str) }
	put(`{"info": {"description": "Fashion-MNIST training images in the iNaturalist 2021 layout, made by natssl data fashion-mnist", "year": 2017}` + "\n")
	put(`, "images": [` + "\n")
	for i := 0; i < n; i++ {
		if i > 0 {
			put(",")
		}
		if err := enc.Encode(manifestImage{ID: i, FileName: trainFileName(s, i), Width: s.Cols, Height: s.Rows}); err != nil {
			return err
		}
	}
	put(`], "annotations": [` + "\n")
	for i := 0; i < n; i++ {
		if i > 0 {
			put(",")
		}
		if err := enc.Encode(manifestAnnotation{ID: i, ImageID: i, CategoryID: int(s.Labels[i])}); err != nil {
			return err
		}
	}
	put(`], "categories": [` + "\n")
	for c, name := range Classes {
		if c > 0 {
			put(",")
		}
		if err := enc.Encode(manifestCategory{ID: c, Name: name, Supercategory: "Fashion", ImageDirName: CategoryDir(c)}); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, "]}\n")
	return err
}

func addMember(tw *tar.Writer, name string, data []byte) error {
	h := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: epoch, Typeflag: tar.TypeReg, Format: tar.FormatUSTAR}
	if err := tw.WriteHeader(h); err != nil {
		return fmt.Errorf("tar header %s: %w", name, err)
	}
	if _, err := tw.Write(data); err != nil {
		return fmt.Errorf("tar write %s: %w", name, err)
	}
	return nil
}

// writeFile replaces path with what write writes, all at once (package atomicfile).
func writeFile(path string, write func(io.Writer) error) error {
	if err := atomicfile.Write(path, 0o666, write); err != nil {
		return fmt.Errorf("fmnist: write %s: %w", path, err)
	}
	return nil
}
