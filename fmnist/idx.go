package fmnist

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// DefaultDir is where Debian's dataset-fashion-mnist package puts the idx files.
const DefaultDir = "/usr/share/datasets/fashion-mnist"

// InstallHint is the command that installs the Debian package.
const InstallHint = "sudo apt-get install dataset-fashion-mnist"

// ErrNotInstalled is wrapped when the idx files are not where they were looked for.
var ErrNotInstalled = errors.New("fashion-mnist idx files not found")

// Classes are the ten Fashion-MNIST classes by label, spelt as file and category names.
var Classes = [10]string{"T-shirt_top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle_boot"}

// Split is one split of the dataset: n grayscale images of Rows x Cols, row-major, and labels.
type Split struct {
	Name       string // "train" or "test"
	Rows, Cols int
	Pix        []uint8 // n*Rows*Cols
	Labels     []uint8 // n, each 0..9
}

// Len is the number of images.
func (s *Split) Len() int { return len(s.Labels) }

// Image returns the pixels of image i.
func (s *Split) Image(i int) []uint8 {
	n := s.Rows * s.Cols
	return s.Pix[i*n : (i+1)*n]
}

// files are the idx files of each split, as Debian and the original distribution name them.
var files = map[string][2]string{
	"train": {"train-images-idx3-ubyte", "train-labels-idx1-ubyte"},
	"test":  {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"},
}

// Load reads the split ("train" or "test") from dir, where the idx files may be gzipped (.gz)
// or plain. A missing file is an error wrapping ErrNotInstalled that gives the install command.
func Load(dir, split string) (*Split, error) { return LoadN(dir, split, 0) }

// LoadN is Load reading only the first n images and labels (all when n <= 0), without
// decompressing the rest.
func LoadN(dir, split string, n int) (*Split, error) {
	names, ok := files[split]
	if !ok {
		return nil, fmt.Errorf("fmnist: unknown split %q (want train or test)", split)
	}
	img, err := readIDX(dir, names[0], n)
	if err != nil {
		return nil, err
	}
	lab, err := readIDX(dir, names[1], n)
	if err != nil {
		return nil, err
	}
	if len(img.dims) != 3 || len(lab.dims) != 1 {
		return nil, fmt.Errorf("fmnist: %s: want 3-D images and 1-D labels, got %v and %v", dir, img.dims, lab.dims)
	}
	if img.dims[0] != lab.dims[0] {
		return nil, fmt.Errorf("fmnist: %s: %d images but %d labels", dir, img.dims[0], lab.dims[0])
	}
	for i, l := range lab.data {
		if l > 9 {
			return nil, fmt.Errorf("fmnist: %s: label %d of image %d is not 0..9", names[1], l, i)
		}
	}
	return &Split{Name: split, Rows: img.dims[1], Cols: img.dims[2], Pix: img.data, Labels: lab.data}, nil
}

type idxArray struct {
	dims []int
	data []uint8
}

// readIDX reads an unsigned-byte idx file (magic 0x00000800 | ndim) named base(.gz) in dir.
func readIDX(dir, base string, limit int) (*idxArray, error) {
	p := filepath.Join(dir, base+".gz")
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		p = filepath.Join(dir, base)
		f, err = os.Open(p)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("fmnist: %s(.gz) not found (install Debian's dataset with `%s`, or pass --from DIR): %w",
			filepath.Join(dir, base), InstallHint, ErrNotInstalled)
	}
	if err != nil {
		return nil, fmt.Errorf("fmnist: open %s: %w", p, err)
	}
	defer f.Close()
	var r io.Reader = bufio.NewReader(f)
	if strings.HasSuffix(p, ".gz") {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("fmnist: %s: %w", p, err)
		}
		defer zr.Close()
		r = zr
	}
	return parseIDX(r, p, limit)
}

// parseIDX reads an unsigned-byte idx array from r, only its first limit entries along the
// first dimension when limit > 0; p is used in errors.
func parseIDX(r io.Reader, p string, limit int) (*idxArray, error) {
	var magic uint32
	if err := binary.Read(r, binary.BigEndian, &magic); err != nil {
		return nil, fmt.Errorf("fmnist: %s: header: %w", p, err)
	}
	if magic>>8 != 0x08 || magic&0xff == 0 || magic&0xff > 4 {
		return nil, fmt.Errorf("fmnist: %s: magic %#08x is not an unsigned-byte idx file", p, magic)
	}
	a := &idxArray{dims: make([]int, magic&0xff)}
	total := 1
	for i := range a.dims {
		var d uint32
		if err := binary.Read(r, binary.BigEndian, &d); err != nil {
			return nil, fmt.Errorf("fmnist: %s: header: %w", p, err)
		}
		if d == 0 || d > 1<<24 {
			return nil, fmt.Errorf("fmnist: %s: dimension %d is %d", p, i, d)
		}
		a.dims[i] = int(d)
		if i == 0 && limit > 0 && limit < a.dims[0] {
			a.dims[0] = limit
		}
		total *= a.dims[i]
		if total > 1<<30 {
			return nil, fmt.Errorf("fmnist: %s: dimensions %v are too large", p, a.dims[:i+1])
		}
	}
	// Grow with the data actually there rather than trusting the header's size.
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(r, int64(total))); err != nil {
		return nil, fmt.Errorf("fmnist: %s: data (%v): %w", p, a.dims, err)
	}
	if buf.Len() != total {
		return nil, fmt.Errorf("fmnist: %s: data (%v): %d of %d bytes: %w", p, a.dims, buf.Len(), total, io.ErrUnexpectedEOF)
	}
	a.data = buf.Bytes()
	return a, nil
}
