package loader

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natssl/natssl/configs"
)

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	mk := func(p string, data string) string {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return full
	}
	mk("photos/deep/a/cat.JPG", "x")
	mk("notes/readme.txt", "x")
	if err := os.Mkdir(filepath.Join(dir, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	manifest := mk("m/train.json", "{}")
	mk("shards/s-000.tar", "")
	// natssl data shard's output: a manifest listing its shards, data.root left empty.
	sharded := mk("sharded/train.json", `{"images": [], "annotations": [], "categories": [],
		"shards": [{"file_name": "train-000.tar", "bytes": 0}]}`)
	mk("sharded/train-000.tar", "")
	tests := []struct {
		name string
		d    configs.Data
		want []string // what the one problem says; none when all is well
	}{
		{"folder with an image deep down", configs.Data{Source: filepath.Join(dir, "photos")}, nil},
		{"file:// folder", configs.Data{Source: "file://" + filepath.Join(dir, "photos")}, nil},
		{"empty folder", configs.Data{Source: filepath.Join(dir, "empty")}, []string{"holds no .jpg, .jpeg or .png images"}},
		{"folder without images", configs.Data{Source: filepath.Join(dir, "notes")}, []string{"holds no .jpg"}},
		{"typo in a folder", configs.Data{Source: filepath.Join(dir, "photso", "deep")},
			[]string{"no such folder (" + dir + " exists, " + filepath.Join(dir, "photso") + " does not)"}},
		{"a file as a folder", configs.Data{Source: filepath.Join(dir, "notes", "readme.txt")}, []string{"neither a folder"}},
		{"manifest", configs.Data{Source: manifest}, nil},
		{"missing manifest", configs.Data{Source: filepath.Join(dir, "m", "trian.json")}, []string{"no such file"}},
		{"manifest with a missing root", configs.Data{Source: manifest, Root: filepath.Join(dir, "imgs")}, []string{"data.root", "no such folder"}},
		{"manifest with shards that match nothing", configs.Data{Source: manifest, Root: filepath.Join(dir, "shards", "x-{000..002}.tar")},
			[]string{"data.root", "names archives that do not exist"}},
		{"manifest with an s3 root", configs.Data{Source: manifest, Root: "s3://bucket/train"}, nil},
		{"manifest with s3 shards", configs.Data{Source: manifest, Root: "s3://bucket/train-{000..003}.tar"}, nil},
		{"manifest listing its shards", configs.Data{Source: sharded}, nil},
		{"tar shards", configs.Data{Source: filepath.Join(dir, "shards", "s-{000..000}.tar")}, nil},
		{"tar glob matching nothing", configs.Data{Source: filepath.Join(dir, "shards", "t-*.tar")}, []string{"matches no files"}},
		{"s3 is not checked", configs.Data{Source: "s3://bucket/prefix"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := Check(tt.d)
			if len(tt.want) == 0 {
				if len(errs) != 0 {
					t.Fatalf("problems %v, want none", errs)
				}
				return
			}
			if len(errs) != 1 {
				t.Fatalf("problems %v, want one", errs)
			}
			msg := errs[0].Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) || strings.Contains(msg, "relative path") {
					t.Errorf("problem %q, want one saying %q (of an absolute path)", msg, w)
				}
			}
		})
	}
}

// TestCheckRelative: a relative path names the folder it was read from.
func TestCheckRelative(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	errs := Check(configs.Data{Source: "data/fmnist/train.json"})
	if len(errs) != 1 {
		t.Fatalf("problems %v, want 1", errs)
	}
	want := "no such file; a relative path is read from the current folder, " + dir
	if msg := errs[0].Error(); !strings.Contains(msg, want) || !strings.Contains(msg, `data.source = "data/fmnist/train.json"`) {
		t.Errorf("problem %q, want one saying %q", msg, want)
	}
}
