package sagemaker

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natssl/natssl/configs"
)

func TestChannelPrefix(t *testing.T) {
	tests := []struct {
		name string
		uris []string
		want string
		err  string
	}{
		{name: "manifest: its folder", uris: []string{"s3://b/inat21/train.json"}, want: "s3://b/inat21/"},
		{name: "folder without slash", uris: []string{"s3://b/fmnist/train"}, want: "s3://b/fmnist/train/"},
		{name: "folder with slash", uris: []string{"s3://b/fmnist/train/"}, want: "s3://b/fmnist/train/"},
		{name: "shard pattern: its folder", uris: []string{"s3://b/shards/train-{000..099}.tar"}, want: "s3://b/shards/"},
		{name: "gzip tar", uris: []string{"s3://b/newt/newt2021_images.tar.gz"}, want: "s3://b/newt/"},
		{name: "gzip tar in capitals", uris: []string{"s3://b/newt/IMAGES.TGZ"}, want: "s3://b/newt/"},
		{name: "csv and tar side by side", uris: []string{"s3://b/newt/labels.csv", "s3://b/newt/images.tar.gz"}, want: "s3://b/newt/"},
		{name: "common ancestor", uris: []string{"s3://b/newt/labels/l.csv", "s3://b/newt/img/"}, want: "s3://b/newt/"},
		{name: "bucket root", uris: []string{"s3://b/x.csv", "s3://b/y/"}, want: "s3://b/"},
		{name: "different buckets", uris: []string{"s3://a/x.csv", "s3://b/y/"}, err: "different buckets"},
		{name: "not s3", uris: []string{"data/x"}, err: "not an s3:// URL"},
		{name: "no bucket", uris: []string{"s3:///x.csv"}, err: "names no bucket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := channelPrefix(tt.uris...)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("channelPrefix(%q) = %q, %v; want %q", tt.uris, got, err, tt.want)
			}
		})
	}
}

func TestLocalPath(t *testing.T) {
	tests := []struct{ prefix, uri, want string }{
		{"s3://b/inat21/", "s3://b/inat21/train.json", "/d/train.json"},
		{"s3://b/fmnist/train/", "s3://b/fmnist/train", "/d"},
		{"s3://b/fmnist/train/", "s3://b/fmnist/train/", "/d"},
		{"s3://b/shards/", "s3://b/shards/train-{000..099}.tar", "/d/train-{000..099}.tar"},
		{"s3://b/newt/", "s3://b/newt/img/", "/d/img"},
		{"s3://b/other/", "s3://b/newt/x.csv", "/d"},
	}
	for _, tt := range tests {
		if got := localPath("/d", tt.prefix, tt.uri); got != tt.want {
			t.Errorf("localPath(%q, %q) = %q, want %q", tt.prefix, tt.uri, got, tt.want)
		}
	}
}

// fakeJob lays out /opt/ml under a temporary base: the config folder and the named channel
// folders, each holding the given files (relative path -> content).
func fakeJob(t *testing.T, channels map[string]map[string]string) *Job {
	t.Helper()
	base := t.TempDir()
	idc := "{"
	for name, files := range channels {
		if len(idc) > 1 {
			idc += ","
		}
		idc += `"` + name + `": {"TrainingInputMode": "File"}`
		for rel, content := range files {
			p := filepath.Join(base, "input", "data", name, rel)
			if strings.HasSuffix(rel, "/") {
				if err := os.MkdirAll(p, 0o755); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	writeConfig(t, base, "inputdataconfig.json", idc+"}")
	j, err := Open(base)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func writeConfig(t *testing.T, base, name, content string) {
	t.Helper()
	dir := filepath.Join(base, "input", "config")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestApply(t *testing.T) {
	data := func(j *Job, rel string) string { return filepath.Join(j.Base, "input", "data", rel) }
	tests := []struct {
		name     string
		channels map[string]map[string]string
		sets     []string
		source   string // relative to input/data
		root     string // relative to input/data, an s3:// URL, or "-" for none
		csv, img string
		err      string
	}{
		{name: "s3 manifest and suite mapped into the channels",
			channels: map[string]map[string]string{"train": {"train.json": "{}"}, "newt": {"labels.csv": "", "images.tar.gz": ""}},
			sets:     []string{"data.source=s3://b/inat/train.json", "eval.newt_csv=s3://b/newt/labels.csv", "eval.images=s3://b/newt/images.tar.gz"},
			source:   "train/train.json", root: "-", csv: "newt/labels.csv", img: "newt/images.tar.gz"},
		{name: "data.root inside the channel's folder is mapped too",
			channels: map[string]map[string]string{"train": {"train.json": "{}", "train/": ""}},
			sets:     []string{"data.source=s3://b/inat/train.json", "data.root=s3://b/inat/train"},
			source:   "train/train.json", root: "train/train"},
		{name: "data.root elsewhere on S3 is kept",
			channels: map[string]map[string]string{"train": {"train.json": "{}"}},
			sets:     []string{"data.source=s3://b/inat/train.json", "data.root=s3://other/images/"},
			source:   "train/train.json", root: "s3://other/images/"},
		{name: "a local data.root is dropped: images beside the manifest",
			channels: map[string]map[string]string{"train": {"train.json": "{}"}},
			sets:     []string{"data.source=s3://b/inat/train.json", "data.root=data/inat"},
			source:   "train/train.json", root: "-"},
		{name: "local values: the channel folder, the suite found by shape",
			channels: map[string]map[string]string{"train": {"a/1.jpg": ""}, "newt": {"newt2021_labels.csv": "", "images/": ""}},
			source:   "train", root: "-", csv: "newt/newt2021_labels.csv", img: "newt/images"},
		{name: "local values: an archive named in capitals is the suite's images",
			channels: map[string]map[string]string{"newt": {"labels.csv": "", "NEWT_IMAGES.TAR.GZ": ""}},
			csv:      "newt/labels.csv", img: "newt/NEWT_IMAGES.TAR.GZ"},
		{name: "no channels: the config is kept",
			channels: map[string]map[string]string{}},
		{name: "ambiguous suite",
			channels: map[string]map[string]string{"newt": {"a.csv": "", "b.csv": "", "images/": ""}},
			err:      `has more than one NeWT labels .csv file: a.csv, b.csv`},
		{name: "suite without images",
			channels: map[string]map[string]string{"newt": {"a.csv": ""}},
			err:      `holds no NeWT images`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := fakeJob(t, tt.channels)
			cfg, err := configs.Load(configs.Sources{Env: []string{}, Sets: tt.sets})
			if err != nil {
				t.Fatal(err)
			}
			before := cfg.Clone()
			err = j.Apply(cfg)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			wantSource, wantCSV, wantImg := before.Data.Source, before.Eval.NewtCSV, before.Eval.Images
			if tt.source != "" {
				wantSource = data(j, tt.source)
			}
			if tt.csv != "" {
				wantCSV, wantImg = data(j, tt.csv), data(j, tt.img)
			}
			wantRoot := before.Data.Root
			if tt.root == "-" {
				wantRoot = ""
			} else if strings.HasPrefix(tt.root, "s3://") {
				wantRoot = tt.root
			} else if tt.root != "" {
				wantRoot = data(j, tt.root)
			}
			if cfg.Data.Root != wantRoot {
				t.Errorf("data.root %q, want %q", cfg.Data.Root, wantRoot)
			}
			if cfg.Data.Source != wantSource || cfg.Eval.NewtCSV != wantCSV || cfg.Eval.Images != wantImg {
				t.Errorf("source %q csv %q images %q\nwant   %q csv %q images %q", cfg.Data.Source, cfg.Eval.NewtCSV, cfg.Eval.Images, wantSource, wantCSV, wantImg)
			}
			if cfg.Run.OutDir != j.CheckpointDir() || cfg.Run.DB != filepath.Join(j.CheckpointDir(), "natssl.db") {
				t.Errorf("out_dir %q db %q, want both in %s", cfg.Run.OutDir, cfg.Run.DB, j.CheckpointDir())
			}
		})
	}
}

func TestApplyMissingChannelFolder(t *testing.T) {
	base := t.TempDir()
	writeConfig(t, base, "inputdataconfig.json", `{"train": {}}`)
	j, err := Open(base)
	if err != nil {
		t.Fatal(err)
	}
	err = j.Apply(configs.Default())
	if err == nil || !strings.Contains(err.Error(), `channel "train" is declared in inputdataconfig.json but its folder`) {
		t.Fatalf("err = %v", err)
	}
}

// TestApplySeveralHosts: a job whose resourceconfig.json lists two hosts makes
// sagemaker.instance_count 2 (they train one model over MPI), and each host keeps its
// checkpoints and tracker in a folder of its own under the checkpoint folder, which SageMaker
// syncs to one S3 URI for all hosts.
func TestApplySeveralHosts(t *testing.T) {
	base := t.TempDir()
	writeConfig(t, base, "resourceconfig.json", `{"current_host": "algo-2", "hosts": ["algo-2", "algo-1"]}`)
	j, err := Open(base)
	if err != nil {
		t.Fatal(err)
	}
	cfg := configs.Default()
	if err := j.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.SageMaker.InstanceCount != 2 || j.Leader() || cfg.Run.OutDir != filepath.Join(base, "checkpoints", "algo-2") {
		t.Errorf("instance_count %d, leader %v, out_dir %s; want 2, the second host, its own folder", cfg.SageMaker.InstanceCount, j.Leader(), cfg.Run.OutDir)
	}
}
