package probe

import (
	"errors"
	"os"
	"strings"
	"testing"
)

const header = "id,task_cluster,task_subcluster,task,label,text_label,split,height,width\n"

// okRows is a valid two-task suite; a's subcluster is empty, b's is "nan".
const okRows = `a1,appearance,,ta,0,x,train,8,8
a2,appearance,,ta,1,y,train,8,8
a3,appearance,,ta,0,x,test,8,8
b1,behavior,nan,tb,1,y,train,8,8
b2,behavior,nan,tb,0,x,train,8,8
b3,behavior,nan,tb,1,y,test,8,8
`

var suiteCases = []struct {
	name    string
	csv     string
	wantErr string // substring; "" means valid
}{
	{"valid", header + okRows, ""},
	{"valid with BOM and CRLF", "\ufeff" + strings.ReplaceAll(header+okRows, "\n", "\r\n"), ""},
	{"missing column", "id,task_cluster,task_subcluster,task,label,text_label,height,width\na,b,c,d,0,e,1,1\n", `suite.csv:1: missing column "split"`},
	{"empty file", "", "empty file"},
	{"header only", header, "no rows after the header"},
	{"label 2", header + "a1,c,,t,2,x,train,1,1\n", `suite.csv:2: id "a1": label "2" is not 0 or 1`},
	{"label text", header + okRows + "a9,appearance,,ta,yes,x,train,1,1\n", `suite.csv:8: id "a9": label "yes" is not 0 or 1`},
	{"split val", header + "a1,c,,t,0,x,val,1,1\n", `suite.csv:2: id "a1": split "val" is not train or test`},
	{"one class in train", header + "a1,c,,t,0,x,train,1,1\na2,c,,t,0,x,train,1,1\na3,c,,t,1,x,test,1,1\n",
		`suite.csv:2: task "t" has only label 0 in its train split`},
	{"no test rows", header + "a1,c,,t,0,x,train,1,1\na2,c,,t,1,x,train,1,1\n", `suite.csv:2: task "t" has no test rows`},
	{"duplicate id", header + okRows + "a2,appearance,,ta,1,y,test,8,8\n", `suite.csv:8: id "a2" already on line 3`},
	{"empty id", header + ",c,,t,0,x,train,1,1\n", "suite.csv:2: empty id"},
	{"id climbing out", header + okRows + "../../etc/passwd,appearance,,ta,1,y,test,8,8\n", `suite.csv:8: id "../../etc/passwd" is not a plain file name`},
	{"id in a subfolder", header + "sub/a1,c,,t,0,x,train,1,1\n", `suite.csv:2: id "sub/a1" is not a plain file name`},
	{"id dot dot", header + "..,c,,t,0,x,train,1,1\n", `suite.csv:2: id ".." is not a plain file name`},
	{"id with backslash", header + "..\\a1,c,,t,0,x,train,1,1\n", `is not a plain file name`},
	{"id with a control character", header + "a\x001,c,,t,0,x,train,1,1\n", `is not a plain file name`},
	{"short row", header + "a1,c,,t,0\n", "suite.csv:2: 5 fields, want 9"},
	{"cluster changes within a task", header + okRows + "a7,behavior,,ta,1,y,test,8,8\n", `suite.csv:8: task "ta": cluster "behavior"`},
	{"bad quoting", header + "a1,\"c,,t,0,x,train,1,1\n", "suite.csv:2"},
}

func TestReadSuite(t *testing.T) {
	for _, c := range suiteCases {
		t.Run(c.name, func(t *testing.T) {
			s, err := ReadSuite(strings.NewReader(c.csv), "suite.csv")
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q (suite %+v)", c.wantErr, s)
			}
			if !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("error %q, want it to contain %q", err, c.wantErr)
			}
			var se *SuiteError
			if strings.Contains(c.wantErr, "suite.csv") && !errors.As(err, &se) {
				t.Errorf("error %v is not a *SuiteError", err)
			}
		})
	}
}

func TestReadSuiteContents(t *testing.T) {
	s, err := ReadSuite(strings.NewReader(header+okRows), "suite.csv")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Tasks) != 2 || s.Len() != 6 {
		t.Fatalf("%d tasks, %d ids; want 2, 6", len(s.Tasks), s.Len())
	}
	a, b := s.Tasks[0], s.Tasks[1]
	if a.Name != "ta" || a.Cluster != "appearance" || a.Subcluster != "" || len(a.Train) != 2 || len(a.Test) != 1 {
		t.Errorf("task a = %+v", a)
	}
	if b.Subcluster != "" {
		t.Errorf(`subcluster "nan" read as %q, want ""`, b.Subcluster)
	}
	if b.Train[0].ID != "b1" || b.Train[0].Label != 1 || b.Train[0].Line != 5 {
		t.Errorf("first train sample of b = %+v, want b1, label 1, line 5", b.Train[0])
	}
}

func TestSmokeSuite(t *testing.T) {
	s, err := LoadSuite("../configs/smoke/newt/labels.csv")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Tasks) != 2 || s.Len() != 64 {
		t.Errorf("%d tasks, %d ids; want 2, 64", len(s.Tasks), s.Len())
	}
}

func TestWithout(t *testing.T) {
	s, err := ReadSuite(strings.NewReader(header+okRows), "suite.csv")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Without(map[string]bool{"a3": true}); err == nil || !strings.Contains(err.Error(), `task "ta"`) {
		t.Errorf("dropping a task's only test image: error %v, want one naming task ta", err)
	}
	s2, err := ReadSuite(strings.NewReader(header+okRows+"a4,appearance,,ta,1,y,test,8,8\n"), "suite.csv")
	if err != nil {
		t.Fatal(err)
	}
	got, err := s2.Without(map[string]bool{"a3": true})
	if err != nil {
		t.Fatal(err)
	}
	if got.Len() != 6 || len(got.Tasks[0].Test) != 1 || got.Tasks[0].Test[0].ID != "a4" {
		t.Errorf("after dropping a3: %d ids, task a test %+v", got.Len(), got.Tasks[0].Test)
	}
}

func FuzzReadSuite(f *testing.F) {
	smoke, err := os.ReadFile("../configs/smoke/newt/labels.csv")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(smoke))
	for _, c := range suiteCases {
		f.Add(c.csv)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ReadSuite(strings.NewReader(in), "fuzz.csv")
		if err != nil {
			if !errors.Is(err, ErrInvalidSuite) {
				t.Fatalf("error %v does not wrap ErrInvalidSuite", err)
			}
			return
		}
		n := 0
		for _, task := range s.Tasks {
			var k [2]int
			for _, smp := range task.Train {
				k[smp.Label]++
			}
			if k[0] == 0 || k[1] == 0 || len(task.Test) == 0 {
				t.Fatalf("accepted task %q with train labels %v and %d test rows", task.Name, k, len(task.Test))
			}
			n += len(task.Train) + len(task.Test)
		}
		if n != s.Len() {
			t.Fatalf("%d samples in tasks, %d ids", n, s.Len())
		}
	})
}
