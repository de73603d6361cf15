package mpi

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"maps"
	"slices"
	"testing"
)

// twins are the two builds' files: Open MPI's and the one without MPI.
var twins = []string{"openmpi.go", "single.go"}

// shared are the unexported declarations that the common code calls in each build.
var shared = []string{"start"}

// surface lists a file's exported top-level declarations and the shared ones, with their
// types (a function's signature, a constant's declared type and kind).
func surface(t *testing.T, file string) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	str := func(n ast.Node) string {
		if n == nil {
			return ""
		}
		var b bytes.Buffer
		printer.Fprint(&b, fset, n)
		return b.String()
	}
	keep := func(name string) bool { return ast.IsExported(name) || slices.Contains(shared, name) }
	out := map[string]string{}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			name := d.Name.Name
			if d.Recv != nil {
				name = str(d.Recv.List[0].Type) + "." + name
				if !ast.IsExported(d.Name.Name) {
					continue
				}
			}
			if keep(d.Name.Name) {
				out[name] = str(d.Type)
			}
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.ValueSpec:
					for i, n := range s.Names {
						if keep(n.Name) {
							kind := d.Tok.String() + " " + str(s.Type)
							if s.Type == nil && i < len(s.Values) {
								if lit, ok := s.Values[i].(*ast.BasicLit); ok {
									kind += lit.Kind.String()
								}
							}
							out[n.Name] = kind
						}
					}
				case *ast.TypeSpec:
					if keep(s.Name.Name) {
						out[s.Name.Name] = "type " + str(s.Type)
					}
				}
			}
		}
	}
	return out
}

// TestTwinsShareOneAPI holds the Open MPI build and the build without MPI to the same
// declarations: what one build offers, the other offers with the same types.
func TestTwinsShareOneAPI(t *testing.T) {
	a, b := surface(t, twins[0]), surface(t, twins[1])
	for _, name := range slices.Sorted(maps.Keys(a)) {
		if b[name] != a[name] {
			t.Errorf("%s: %s %q, %s %q", name, twins[0], a[name], twins[1], b[name])
		}
	}
	for _, name := range slices.Sorted(maps.Keys(b)) {
		if _, ok := a[name]; !ok {
			t.Errorf("%s: only in %s (%q)", name, twins[1], b[name])
		}
	}
	for _, name := range append([]string{"Backend"}, shared...) {
		if _, ok := a[name]; !ok {
			t.Errorf("%s missing from %s", name, twins[0])
		}
	}
}
