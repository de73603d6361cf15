//go:build cgo && !noturbojpeg

package lint

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCWithoutWarnings compiles every .c file of the repository with the C compiler cgo uses
// and -Wall -Wextra -Werror, at the optimisation levels the packages build with (some
// warnings need the optimiser to show). The packages' #cgo CFLAGS carry -Wall -Wextra, so a
// warning would also print on every build; here it fails.
func TestCWithoutWarnings(t *testing.T) {
	out, err := exec.Command("go", "env", "CC").Output()
	if err != nil {
		t.Fatalf("go env CC: %v", err)
	}
	cc := strings.Fields(string(out))
	if len(cc) == 0 {
		t.Fatal("go env CC is empty: cgo has no C compiler")
	}
	var files []string
	err = filepath.WalkDir("../..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".c") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no .c files found: the walk is not at the repository's root")
	}
	for _, f := range files {
		for _, opt := range []string{"-O2", "-O3"} {
			args := append(cc[1:len(cc):len(cc)], "-Wall", "-Wextra", "-Werror", opt, "-c", "-o", os.DevNull, f)
			if out, err := exec.Command(cc[0], args...).CombinedOutput(); err != nil {
				t.Errorf("%s %s: %v\n%s", strings.Join(cc, " "), strings.Join(args[len(cc)-1:], " "), err, out)
			}
		}
	}
	t.Logf("%d C files: %s", len(files), strings.Join(files, ", "))
}
