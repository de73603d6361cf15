package probe

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/natssl/natssl/internal/regfile"
)

// Columns are the columns of a NeWT labels CSV (newt2021_labels.csv), all required.
var Columns = []string{"id", "task_cluster", "task_subcluster", "task", "label", "text_label", "split", "height", "width"}

// ErrInvalidSuite is wrapped by every error about the contents of a labels CSV.
var ErrInvalidSuite = errors.New("invalid NeWT suite")

// Sample is one image of a task: its id and its binary label.
type Sample struct {
	ID    string
	Label int
	Line  int // line of the labels CSV the sample came from
}

// Task is one binary task of a suite, its samples in the order of the CSV.
type Task struct {
	Name, Cluster, Subcluster string // Subcluster is "" when the CSV says "" or "nan"
	Train, Test               []Sample
	Line                      int // first line of the task in the CSV
}

// Suite is a validated NeWT-style suite: tasks in order of first appearance.
type Suite struct {
	Name  string // where it was read from, for messages
	Tasks []*Task
	// IDs are every sample's id, in CSV order; each id belongs to one task.
	IDs []string
}

// SuiteError reports bad input in a labels CSV with where it came from.
type SuiteError struct {
	File string
	Line int // 0 when the problem concerns the whole file
	Msg  string
}

func (e *SuiteError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("probe: %s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("probe: %s: %s", e.File, e.Msg)
}

func (e *SuiteError) Unwrap() error { return ErrInvalidSuite }

// MaxSuiteBytes bounds a labels CSV (NeWT's is about 2 MB).
const MaxSuiteBytes = 256 << 20

// LoadSuite reads and validates the labels CSV at path: a regular file of at most
// MaxSuiteBytes.
func LoadSuite(path string) (*Suite, error) {
	f, err := regfile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("probe: open suite %s: %w", path, err)
	}
	defer f.Close()
	return ReadSuite(regfile.LimitReader(f, path, MaxSuiteBytes), path)
}

// ReadSuite reads a NeWT labels CSV and validates it before any image is touched: every column
// present, labels 0/1, splits train/test, each id once, and every task with both labels in its
// train split and at least one test sample. name is used in messages.
func ReadSuite(r io.Reader, name string) (*Suite, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err == io.EOF {
		return nil, &SuiteError{File: name, Msg: "empty file, want a header with columns " + strings.Join(Columns, ",")}
	}
	if err != nil {
		return nil, csvError(name, err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.TrimSpace(h)
		if i == 0 {
			h = strings.TrimPrefix(h, "\ufeff")
		}
		col[h] = i
	}
	for _, c := range Columns {
		if _, ok := col[c]; !ok {
			return nil, &SuiteError{File: name, Line: 1, Msg: fmt.Sprintf("missing column %q (want %s)", c, strings.Join(Columns, ","))}
		}
	}
	s := &Suite{Name: name}
	tasks := map[string]*Task{}
	seen := map[string]int{} // id -> line
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, csvError(name, err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if len(rec) != len(header) {
			return nil, &SuiteError{File: name, Line: line, Msg: fmt.Sprintf("%d fields, want %d as in the header", len(rec), len(header))}
		}
		field := func(c string) string { return strings.TrimSpace(rec[col[c]]) }
		id := field("id")
		if id == "" {
			return nil, &SuiteError{File: name, Line: line, Msg: "empty id"}
		}
		if !PlainID(id) {
			return nil, &SuiteError{File: name, Line: line, Msg: fmt.Sprintf("id %q is not a plain file name (no /, \\, .. or control characters): it names the image <id>.jpg inside --images", id)}
		}
		if prev, dup := seen[id]; dup {
			return nil, &SuiteError{File: name, Line: line, Msg: fmt.Sprintf("id %q already on line %d (each image belongs to one task)", id, prev)}
		}
		seen[id] = line
		taskName := field("task")
		if taskName == "" {
			return nil, &SuiteError{File: name, Line: line, Msg: fmt.Sprintf("id %q: empty task", id)}
		}
		var label int
		switch v := field("label"); v {
		case "0", "0.0":
			label = 0
		case "1", "1.0":
			label = 1
		default:
			return nil, &SuiteError{File: name, Line: line, Msg: fmt.Sprintf("id %q: label %q is not 0 or 1", id, v)}
		}
		split := field("split")
		if split != "train" && split != "test" {
			return nil, &SuiteError{File: name, Line: line, Msg: fmt.Sprintf("id %q: split %q is not train or test", id, split)}
		}
		cluster, sub := field("task_cluster"), field("task_subcluster")
		if strings.EqualFold(sub, "nan") {
			sub = ""
		}
		t := tasks[taskName]
		if t == nil {
			t = &Task{Name: taskName, Cluster: cluster, Subcluster: sub, Line: line}
			tasks[taskName] = t
			s.Tasks = append(s.Tasks, t)
		} else if t.Cluster != cluster || t.Subcluster != sub {
			return nil, &SuiteError{File: name, Line: line, Msg: fmt.Sprintf("task %q: cluster %q/%q differs from %q/%q on line %d",
				taskName, cluster, sub, t.Cluster, t.Subcluster, t.Line)}
		}
		smp := Sample{ID: id, Label: label, Line: line}
		if split == "train" {
			t.Train = append(t.Train, smp)
		} else {
			t.Test = append(t.Test, smp)
		}
		s.IDs = append(s.IDs, id)
	}
	if len(s.Tasks) == 0 {
		return nil, &SuiteError{File: name, Msg: "no rows after the header"}
	}
	for _, t := range s.Tasks {
		var n [2]int
		for _, smp := range t.Train {
			n[smp.Label]++
		}
		for l := range n {
			if n[l] == 0 {
				return nil, &SuiteError{File: name, Line: t.Line, Msg: fmt.Sprintf("task %q has only label %d in its train split (%d rows), a binary probe needs both",
					t.Name, 1-l, len(t.Train))}
			}
		}
		if len(t.Test) == 0 {
			return nil, &SuiteError{File: name, Line: t.Line, Msg: fmt.Sprintf("task %q has no test rows", t.Name)}
		}
	}
	return s, nil
}

// PlainID reports whether id can name an image file <id>.jpg inside the images folder and
// nothing outside it: not "." or "..", no path separator, no control character.
func PlainID(id string) bool {
	if id == "" || id == "." || id == ".." {
		return false
	}
	for _, r := range id {
		if r == '/' || r == '\\' || r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

func csvError(name string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &SuiteError{File: name, Line: pe.Line, Msg: pe.Err.Error()}
	}
	return fmt.Errorf("probe: read %s: %w", name, err)
}

// Len is the number of samples in the suite.
func (s *Suite) Len() int { return len(s.IDs) }

// Without returns a copy of the suite without the samples whose ids are in drop, re-validated
// (a task left with one class in train or no test rows is an error naming it).
func (s *Suite) Without(drop map[string]bool) (*Suite, error) {
	out := &Suite{Name: s.Name}
	keep := func(in []Sample) []Sample {
		var o []Sample
		for _, smp := range in {
			if !drop[smp.ID] {
				o = append(o, smp)
			}
		}
		return o
	}
	for _, t := range s.Tasks {
		nt := *t
		nt.Train, nt.Test = keep(t.Train), keep(t.Test)
		var n [2]int
		for _, smp := range nt.Train {
			n[smp.Label]++
		}
		if n[0] == 0 || n[1] == 0 || len(nt.Test) == 0 {
			return nil, &SuiteError{File: s.Name, Line: t.Line, Msg: fmt.Sprintf("task %q: without the missing images it has %d/%d train rows of label 0/1 and %d test rows",
				t.Name, n[0], n[1], len(nt.Test))}
		}
		out.Tasks = append(out.Tasks, &nt)
	}
	for _, id := range s.IDs {
		if !drop[id] {
			out.IDs = append(out.IDs, id)
		}
	}
	return out, nil
}
