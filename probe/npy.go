package probe

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/natssl/natssl/internal/atomicfile"

	"github.com/natssl/natssl/internal/regfile"
)

// Features is a matrix of image features, one row per id, row-major float32.
type Features struct {
	IDs  []string
	Dim  int
	Data []float32 // len(IDs)*Dim
}

// Row returns the features of row i.
func (f *Features) Row(i int) []float32 { return f.Data[i*f.Dim : (i+1)*f.Dim] }

// Index maps each id to its row.
func (f *Features) Index() map[string]int {
	m := make(map[string]int, len(f.IDs))
	for i, id := range f.IDs {
		m[id] = i
	}
	return m
}

// IDsPath is the ids file written beside a features file: F.npy -> F.ids.txt, one id per line
// in row order (what newt_probe.py takes as --ids).
func IDsPath(npyPath string) string {
	return strings.TrimSuffix(npyPath, ".npy") + ".ids.txt"
}

// WriteNPY writes f as a NumPy .npy file (version 1.0, '<f4', C order, shape (rows, dim)) at
// path and its ids beside it (IDsPath), each through a temporary file renamed into place.
func WriteNPY(path string, f *Features) error {
	if err := atomicfile.Write(path, 0o666, func(w io.Writer) error { return encodeNPY(w, f) }); err != nil {
		return fmt.Errorf("probe: write %s: %w", path, err)
	}
	ids := IDsPath(path)
	err := atomicfile.Write(ids, 0o666, func(w io.Writer) error {
		for _, id := range f.IDs {
			if _, err := io.WriteString(w, id+"\n"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("probe: write %s: %w", ids, err)
	}
	return nil
}

func encodeNPY(w io.Writer, f *Features) error {
	dict := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", len(f.IDs), f.Dim)
	// magic(6) + version(2) + header length(2) + dict + padding + '\n', aligned to 64 bytes.
	total := 10 + len(dict) + 1
	pad := (64 - total%64) % 64
	hdr := dict + strings.Repeat(" ", pad) + "\n"
	var pre [10]byte
	copy(pre[:], "\x93NUMPY\x01\x00")
	binary.LittleEndian.PutUint16(pre[8:], uint16(len(hdr)))
	bw := bufio.NewWriterSize(w, 1<<20)
	bw.Write(pre[:])
	bw.WriteString(hdr)
	var b [4]byte
	for _, v := range f.Data {
		binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
		bw.Write(b[:])
	}
	return bw.Flush()
}

var npyShape = regexp.MustCompile(`'shape':\s*\((\d+),\s*(\d+),?\s*\)`)

// ReadNPY reads a 2-D little-endian float32 C-order .npy file and its ids file (IDsPath).
func ReadNPY(path string) (*Features, error) {
	raw, err := regfile.ReadFile(path, -1) // as large as the features are; but a regular file
	if err != nil {
		return nil, fmt.Errorf("probe: read features %s: %w", path, err)
	}
	if len(raw) < 10 || !bytes.HasPrefix(raw, []byte("\x93NUMPY")) {
		return nil, fmt.Errorf("probe: read features %s: not a .npy file", path)
	}
	var hl, off int
	switch raw[6] {
	case 1:
		hl, off = int(binary.LittleEndian.Uint16(raw[8:10])), 10
	case 2, 3:
		if len(raw) < 12 {
			return nil, fmt.Errorf("probe: read features %s: truncated header", path)
		}
		hl, off = int(binary.LittleEndian.Uint32(raw[8:12])), 12
	default:
		return nil, fmt.Errorf("probe: read features %s: .npy version %d not supported", path, raw[6])
	}
	if off+hl > len(raw) {
		return nil, fmt.Errorf("probe: read features %s: truncated header", path)
	}
	hdr := string(raw[off : off+hl])
	if !strings.Contains(hdr, "'descr': '<f4'") || !strings.Contains(hdr, "'fortran_order': False") {
		return nil, fmt.Errorf("probe: read features %s: want little-endian float32 in C order, header %s", path, strings.TrimSpace(hdr))
	}
	m := npyShape.FindStringSubmatch(hdr)
	if m == nil {
		return nil, fmt.Errorf("probe: read features %s: want a 2-D array, header %s", path, strings.TrimSpace(hdr))
	}
	rows, _ := strconv.Atoi(m[1])
	dim, _ := strconv.Atoi(m[2])
	body := raw[off+hl:]
	if len(body) != rows*dim*4 {
		return nil, fmt.Errorf("probe: read features %s: %d data bytes, want %d for shape (%d, %d)", path, len(body), rows*dim*4, rows, dim)
	}
	f := &Features{Dim: dim, Data: make([]float32, rows*dim)}
	for i := range f.Data {
		f.Data[i] = math.Float32frombits(binary.LittleEndian.Uint32(body[4*i:]))
	}
	idb, err := regfile.ReadFile(IDsPath(path), -1)
	if err != nil {
		return nil, fmt.Errorf("probe: read feature ids: %w", err)
	}
	for _, line := range strings.Split(string(idb), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			f.IDs = append(f.IDs, line)
		}
	}
	if len(f.IDs) != rows {
		return nil, fmt.Errorf("probe: read features %s: %d ids in %s for %d rows", path, len(f.IDs), IDsPath(path), rows)
	}
	return f, nil
}
