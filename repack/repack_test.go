package repack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"go.uber.org/goleak"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/loader"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// smokeDir is the repository's real Fashion-MNIST and nature JPEGs: 56 in 5 class folders.
const smokeDir = "../configs/smoke/train"

const smokeImages = 56

func data(source, root string) configs.Data {
	d := configs.Default().Data
	d.Source, d.Root = source, root
	return d
}

// sample is what a set holds of one image.
type sample struct {
	label int
	sum   string
}

// readSet reads every sample a source yields: key → label and SHA-256 of the bytes.
func readSet(t *testing.T, d configs.Data) map[string]sample {
	t.Helper()
	ctx := context.Background()
	src, err := loader.Open(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	out := map[string]sample{}
	for _, sh := range src.Shards() {
		rs, err := sh.Open(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for {
			rec, err := rs.Next(ctx)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			b, err := rec.Bytes(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, dup := out[rec.Key]; dup {
				t.Fatalf("%s read twice", rec.Key)
			}
			h := sha256.Sum256(b)
			out[rec.Key] = sample{rec.Label, hex.EncodeToString(h[:])}
		}
		rs.Close()
	}
	return out
}

// fileSums returns the SHA-256 of every file of dir.
func fileSums(t *testing.T, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range ents {
		if e.IsDir() {
			out[e.Name()+"/"] = ""
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(b)
		out[e.Name()] = hex.EncodeToString(h[:])
	}
	return out
}

func readManifest(t *testing.T, p string) *loader.Manifest {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := loader.ParseManifest(p, f)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestFolderToShards: a folder of real images becomes shards whose manifest data.source
// reads as it is: every image once, same bytes, same labels; the shards' checksums are
// those of the files; and the bytes are the same whatever the number of jobs.
func TestFolderToShards(t *testing.T) {
	want := readSet(t, data(smokeDir, ""))
	var first map[string]string
	for _, c := range []struct {
		name string
		o    Options
		n    int
	}{
		{"3 shards, 1 job", Options{Shards: 3, Jobs: 1}, 3},
		{"3 shards, 4 jobs", Options{Shards: 3, Jobs: 4}, 3},
		{"by size", Options{ShardSize: 40 << 10, Jobs: 2}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := t.TempDir()
			c.o.Data, c.o.Out = data(smokeDir, ""), out
			sum, err := Run(context.Background(), c.o)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Images != smokeImages || c.n > 0 && sum.Shards != c.n || sum.Shards < 2 {
				t.Errorf("summary %+v: want %d images in %d shards", sum, smokeImages, c.n)
			}
			if got := readSet(t, data(filepath.Join(out, manifestName), "")); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("the set read back differs from the folder: %d samples, want %d", len(got), len(want))
			}
			m := readManifest(t, filepath.Join(out, manifestName))
			sums := fileSums(t, out)
			var n int64
			for _, sh := range m.Shards {
				n += sh.Images
				if sums[sh.FileName] != sh.SHA256 {
					t.Errorf("%s: manifest sha256 %s, file %s", sh.FileName, sh.SHA256, sums[sh.FileName])
				}
				if c.o.ShardSize > 0 && sh.Bytes > c.o.ShardSize+4096 {
					t.Errorf("%s has %d bytes, over --shard-size %d", sh.FileName, sh.Bytes, c.o.ShardSize)
				}
			}
			if n != smokeImages || len(m.Images) != smokeImages || len(m.Categories) != 5 {
				t.Errorf("manifest: %d shard images, %d images, %d categories", n, len(m.Images), len(m.Categories))
			}
			if _, ok := sums[journalDir+"/"]; ok {
				t.Errorf("the journal is left in %s", out)
			}
			if c.o.Shards == 3 {
				if first == nil {
					first = sums
				} else if fmt.Sprint(sums) != fmt.Sprint(first) {
					t.Errorf("%d jobs wrote other bytes than 1 job", c.o.Jobs)
				}
			}
		})
	}
}

// TestTarGzToShards: a tar.gz made by the system's tar, and a manifest over it, become
// shards; the manifest's ids and categories are kept.
func TestTarGzToShards(t *testing.T) {
	dir := t.TempDir()
	tgz := filepath.Join(dir, "photos.tar.gz")
	abs, _ := filepath.Abs(smokeDir)
	if out, err := exec.Command("tar", "-czf", tgz, "-C", filepath.Dir(abs), filepath.Base(abs)).CombinedOutput(); err != nil {
		t.Fatalf("tar: %v: %s", err, out)
	}
	out := filepath.Join(dir, "shards")
	sum, err := Run(context.Background(), Options{Data: data(tgz, ""), Out: out, ShardSize: 64 << 10, Jobs: 2})
	if err != nil {
		t.Fatal(err)
	}
	want := readSet(t, data(tgz, ""))
	if got := readSet(t, data(filepath.Join(out, manifestName), "")); len(want) != smokeImages || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("shards of the tar.gz hold %d samples unlike its %d", len(got), len(want))
	}
	if sum.Shards < 2 {
		t.Errorf("%d shards of 64 KiB from ~250 KB", sum.Shards)
	}

	// A manifest over the shards just made, repacked again: ids and categories stay.
	m1 := readManifest(t, filepath.Join(out, manifestName))
	again := filepath.Join(dir, "again")
	if _, err := Run(context.Background(), Options{Data: data(filepath.Join(out, manifestName), ""), Out: again, Shards: 2, Jobs: 1}); err != nil {
		t.Fatal(err)
	}
	m2 := readManifest(t, filepath.Join(again, manifestName))
	if fmt.Sprint(m1.Categories) != fmt.Sprint(m2.Categories) || len(m2.Images) != smokeImages {
		t.Errorf("categories %v → %v, %d images", m1.Categories, m2.Categories, len(m2.Images))
	}
	ids := map[string]int64{}
	for i := range m1.Images {
		ids[m1.FileName(i)] = m1.Images[i].ID
	}
	for i := range m2.Images {
		if id := m2.Images[i].ID; ids[m2.FileName(i)] != id {
			t.Errorf("%s: id %d, was %d", m2.FileName(i), id, ids[m2.FileName(i)])
		}
	}
}

// TestInterruptedRunResumes: a run stopped after two shards leaves them and its journal; the
// same command again keeps them, removes what the stopped writer left, and ends with the
// bytes of an uninterrupted run.
func TestInterruptedRunResumes(t *testing.T) {
	whole := t.TempDir()
	o := Options{Data: data(smokeDir, ""), Shards: 6, Jobs: 1}
	o.Out = whole
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	o.Out = out
	ctx, cancel := context.WithCancel(context.Background())
	o.Progress = func(p Progress) {
		if p.Shards >= 3 {
			cancel()
		}
	}
	orig := progressEvery
	progressEvery = 0
	defer func() { progressEvery = orig }()
	if _, err := Run(ctx, o); !errors.Is(err, context.Canceled) {
		t.Fatalf("stopped run: %v, want context.Canceled", err)
	}
	done, err := readJournal(context.Background(), folder{out})
	if err != nil || len(done) < 2 || len(done) == 6 {
		t.Fatalf("journal after the stop: %d shards, %v; want some but not all", len(done), err)
	}
	leftover := filepath.Join(out, "."+shardName(5)+"123")
	os.WriteFile(leftover, []byte("half a shard"), 0o644)
	inode := func(name string) uint64 {
		fi, err := os.Stat(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	kept := map[int]uint64{}
	for k := range done {
		kept[k] = inode(shardName(k))
	}

	o.Progress = nil
	sum, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Resumed != len(done) {
		t.Errorf("resumed %d shards, the journal had %d", sum.Resumed, len(done))
	}
	got := fileSums(t, out)
	for k := range done {
		if inode(shardName(k)) != kept[k] {
			t.Errorf("%s was written again", shardName(k))
		}
	}
	if _, err := os.Stat(leftover); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the partial file of a stopped writer is still there: %v", err)
	}
	if want := fileSums(t, whole); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("resumed set %v\nunlike the uninterrupted one %v", got, want)
	}
}

// TestRefusesTakenOutput: the command never writes over what it did not start, nor
// continues a set made with other options.
func TestRefusesTakenOutput(t *testing.T) {
	ctx := context.Background()
	finished := t.TempDir()
	if _, err := Run(ctx, Options{Data: data(smokeDir, ""), Out: finished, Shards: 2}); err != nil {
		t.Fatal(err)
	}
	foreign := t.TempDir()
	os.WriteFile(filepath.Join(foreign, shardName(0)), []byte("someone's"), 0o644)
	other := t.TempDir()
	orig := progressEvery
	progressEvery = 0
	defer func() { progressEvery = orig }()
	ctx2, cancel := context.WithCancel(ctx)
	Run(ctx2, Options{Data: data(smokeDir, ""), Out: other, Shards: 4, Progress: func(p Progress) { cancel() }})
	for _, c := range []struct {
		name string
		o    Options
		want string
	}{
		{"a finished set", Options{Out: finished, Shards: 2}, "already holds a finished set"},
		{"foreign shards", Options{Out: foreign, Shards: 2}, "did not start"},
		{"another plan", Options{Out: other, Shards: 3}, "other options"},
		{"shards and size", Options{Out: t.TempDir(), Shards: 3, ShardSize: 10}, "not both"},
		{"more shards than images", Options{Out: t.TempDir(), Shards: 57}, "only 56 images"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.o.Data = data(smokeDir, "")
			_, err := Run(ctx, c.o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Run = %v, want an error saying %q", err, c.want)
			}
		})
	}
	if got := fileSums(t, foreign); len(got) != 2 { // the file and the journal folder
		t.Errorf("the foreign folder was touched: %v", got)
	}
}

// TestBadImagesAreSkippedAndCounted: files that are not images are left out, counted and
// named; the good ones are all in the set.
func TestBadImagesAreSkippedAndCounted(t *testing.T) {
	dir := t.TempDir()
	good, _ := filepath.Glob(filepath.Join(smokeDir, "nature", "*.jpg"))
	for _, p := range good {
		b, _ := os.ReadFile(p)
		os.MkdirAll(filepath.Join(dir, "nature"), 0o755)
		os.WriteFile(filepath.Join(dir, "nature", filepath.Base(p)), b, 0o644)
	}
	jpeg, _ := os.ReadFile(good[0])
	bad := map[string][]byte{"zero.jpg": nil, "notes.jpg": []byte("a text file\n"), "head.jpg": jpeg[:20]}
	os.MkdirAll(filepath.Join(dir, "bad"), 0o755)
	for n, b := range bad {
		os.WriteFile(filepath.Join(dir, "bad", n), b, 0o644)
	}
	sum, err := Run(context.Background(), Options{Data: data(dir, ""), Out: t.TempDir(), Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{loader.SkipEmpty: 1, loader.SkipNotImage: 1, loader.SkipCorrupt: 1}
	if sum.Images != int64(len(good)) || fmt.Sprint(sum.Skipped) != fmt.Sprint(want) {
		t.Errorf("%d images, skipped %v; want %d and %v", sum.Images, sum.Skipped, len(good), want)
	}
	for n := range bad {
		if !slices.ContainsFunc(sum.SkippedExamples, func(s string) bool { return strings.HasSuffix(s, n) }) {
			t.Errorf("skip examples %q do not name %s", sum.SkippedExamples, n)
		}
	}
}
