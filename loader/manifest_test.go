package loader

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseManifestFixture(t *testing.T) {
	f, err := os.Open("testdata/manifest_small.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := ParseManifest("manifest_small.json", f)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, im := range m.Images {
		got = append(got, fmt.Sprintf("%d:%s:%d", im.ID, m.FileName(i), im.Category))
	}
	want := "[1:train/00000_Animalia_Shirt/00018.jpg:0 2:train/00001_Animalia_Sneaker/00007.jpg:1 7:train/00001_Animalia_Sneaker/00009.jpg:1]"
	if fmt.Sprint(got) != want {
		t.Errorf("images %v\nwant %s", got, want)
	}
	if len(m.Dirs) != 2 {
		t.Errorf("dirs %q, want the 2 folders interned", m.Dirs)
	}
	if len(m.Categories) != 2 || m.Categories[1].Name != "Sneaker" {
		t.Errorf("categories %+v", m.Categories)
	}
	if i, ok := m.Lookup("train/00001_Animalia_Sneaker/00009.jpg"); !ok || m.Images[i].ID != 7 {
		t.Errorf("lookup = %d, %v", i, ok)
	}
	if _, ok := m.Lookup("train/nope.jpg"); ok {
		t.Errorf("lookup found a name that is not there")
	}
}

func TestParseManifestErrors(t *testing.T) {
	cases := []struct{ name, doc, want string }{
		{"yaml", "images:\n - a.jpg", "not JSON"},
		{"array", `[{"id": 1}]`, "not a JSON object"},
		{"no images", `{"categories": []}`, `no "images" array`},
		{"images not array", `{"images": {"id": 1}}`, "images: want an array"},
		{"image without id", `{"images": [{"file_name": "a.jpg"}]}`, "images[0]: no id"},
		{"image without name", `{"images": [{"id": 1}, {"id": 2, "file_name": ""}]}`, "images[0] (id 1): no file_name"},
		{"wrong type", `{"images": [{"id": "one", "file_name": "a.jpg"}]}`, "images[0]"},
		{"annotation to nowhere", `{"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": [{"image_id": 2, "category_id": 0}]}`, "annotations[0]: image_id 2 is not in images"},
		{"truncated", `{"images": [{"id": 1, "file_name": "a.jpg"}`, "not JSON"},
		{"trailing data", `{"images": []} {}`, "data after"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseManifest("m.json", strings.NewReader(c.doc))
			if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, ErrManifest) {
				t.Errorf("error %v, want ErrManifest saying %q", err, c.want)
			}
			if err != nil && !strings.Contains(err.Error(), "manifest m.json") {
				t.Errorf("error %v does not say where", err)
			}
		})
	}
}

// writeManifest writes an iNat-style manifest listing files (plus extra names that do not
// exist), category = index of the file's folder in sorted order.
func writeManifest(t testing.TB, path string, files []file, extra ...string) map[string]int {
	t.Helper()
	type img struct {
		ID       int    `json:"id"`
		FileName string `json:"file_name"`
	}
	type ann struct {
		ImageID    int `json:"image_id"`
		CategoryID int `json:"category_id"`
	}
	var doc struct {
		Images      []img      `json:"images"`
		Annotations []ann      `json:"annotations"`
		Categories  []Category `json:"categories"`
	}
	cats := map[string]int{}
	labels := map[string]int{}
	names := []string{}
	for _, f := range files {
		names = append(names, f.name)
	}
	names = append(names, extra...)
	for i, n := range names {
		dir := filepath.Dir(n)
		c, ok := cats[dir]
		if !ok {
			c = len(cats) + 100
			cats[dir] = c
			doc.Categories = append(doc.Categories, Category{ID: c, Name: dir})
		}
		doc.Images = append(doc.Images, img{ID: 1000 + i, FileName: n})
		doc.Annotations = append(doc.Annotations, ann{ImageID: 1000 + i, CategoryID: c})
		labels[n] = c
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return labels
}

func TestManifestRoots(t *testing.T) {
	files := smokeFiles(t)
	cases := []struct {
		name string
		root func(t *testing.T, dir string) string // writes the images, returns data.root
	}{
		{"folder beside the manifest", func(t *testing.T, dir string) string { writeFiles(t, dir, files); return "" }},
		{"folder elsewhere", func(t *testing.T, dir string) string {
			writeFiles(t, filepath.Join(dir, "imgs"), files)
			return filepath.Join(dir, "imgs")
		}},
		{"tar.gz", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "train.tar.gz")
			os.WriteFile(p, tarBytes(t, files, true), 0o644)
			return p
		}},
		{"tar shards", func(t *testing.T, dir string) string { return writeShards(t, dir, files, 3, false) }},
		{"shards named after the manifest, root unset", func(t *testing.T, dir string) string {
			for i, part := range [][]file{files[:20], files[20:]} {
				os.WriteFile(filepath.Join(dir, fmt.Sprintf("train-%03d.tar", i)), tarBytes(t, part, false), 0o644)
			}
			os.WriteFile(filepath.Join(dir, "other-000.tar"), tarBytes(t, files[:3], false), 0o644) // not the manifest's
			return ""
		}},
		{"one tar.gz named after the manifest, root unset", func(t *testing.T, dir string) string {
			os.WriteFile(filepath.Join(dir, "train.tar.gz"), tarBytes(t, files, true), 0o644)
			return ""
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			d := testData(filepath.Join(dir, "train.json"))
			labels := writeManifest(t, d.Source, files, "Shirt/missing.jpg")
			d.Root = c.root(t, dir)
			src, err := Open(context.Background(), d)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			ms, ok := src.(*ManifestSource)
			if !ok || len(ms.Manifest().Images) != len(files)+1 {
				t.Fatalf("source %T, want a manifest of %d images", src, len(files)+1)
			}
			wantLen := int64(len(files) + 1) // every entry, the missing one included
			if n, err := src.Len(context.Background()); err != nil || n != wantLen {
				t.Errorf("Len = %d, %v; want %d", n, err, wantLen)
			}
			l := newTestLoader(t, src, Options{Seed: 4, Epochs: 1, BatchSize: 10})
			seen := 0
			for {
				b, err := l.Next(context.Background())
				if err != nil {
					break
				}
				for i, k := range b.Keys {
					if b.Labels[i] != labels[k] {
						t.Errorf("%s: label %d, want category %d", k, b.Labels[i], labels[k])
					}
				}
				seen += b.N
				l.Release(b)
			}
			if seen != len(files) {
				t.Errorf("delivered %d, want %d", seen, len(files))
			}
			{
				if st := l.Stats(); st.Skipped[SkipMissing] != 1 || !strings.Contains(st.SkippedExamples[0], "Shirt/missing.jpg") {
					t.Errorf("skips %v %q: want the missing entry counted and named", st.Skipped, st.SkippedExamples)
				}
			}
		})
	}
}

func FuzzParseManifest(f *testing.F) {
	seed, err := os.ReadFile("testdata/manifest_small.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"images": []}`))
	f.Add([]byte(`{"images": [{"id": 1, "file_name": "../../a.jpg"}], "annotations": [{"image_id": 1, "category_id": 3}]}`))
	f.Add([]byte("images: []"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		m, err := ParseManifest("fuzz.json", bytes.NewReader(doc))
		if err != nil {
			if !errors.Is(err, ErrManifest) {
				t.Fatalf("error %v does not wrap ErrManifest", err)
			}
			return
		}
		for i, im := range m.Images {
			name := m.FileName(i)
			if name == "" || strings.HasPrefix(name, "/") || strings.HasPrefix(name, "../") {
				t.Fatalf("image %d: file name %q escapes the root", im.ID, name)
			}
			if j, ok := m.Lookup(name); !ok || m.FileName(j) != name {
				t.Fatalf("lookup of %q failed", name)
			}
		}
	})
}
