package configs

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPrecedence(t *testing.T) {
	file := writeFile(t, "run.yaml", "train:\n  lr: 0.2\n  steps: 7\n")
	tests := []struct {
		name       string
		src        Sources
		wantLR     float64
		wantOrigin string
	}{
		{"default", Sources{Env: []string{}}, 0.00266, "default"},
		{"file over default", Sources{File: file, Env: []string{}}, 0.2, file + ":2"},
		{"env over file", Sources{File: file, Env: []string{"NATSSL_TRAIN_LR=0.3"}}, 0.3, "env NATSSL_TRAIN_LR"},
		{"hyperparameter over env", Sources{File: file, Env: []string{"NATSSL_TRAIN_LR=0.3"},
			Hyperparameters: map[string]string{"train.lr": "0.4"}}, 0.4, `hyperparameter "train.lr"`},
		{"--set over hyperparameter", Sources{File: file, Env: []string{"NATSSL_TRAIN_LR=0.3"},
			Hyperparameters: map[string]string{"train.lr": "0.4"}, Sets: []string{"train.lr=0.5"}}, 0.5, "--set train.lr=0.5"},
		{"last --set wins", Sources{Env: []string{}, Sets: []string{"train.lr=0.5", "train.lr=0.6"}}, 0.6, "--set train.lr=0.6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			if c.Train.LR != tt.wantLR {
				t.Errorf("train.lr = %v, want %v", c.Train.LR, tt.wantLR)
			}
			if got := c.Origin("train.lr"); got != tt.wantOrigin {
				t.Errorf("origin = %q, want %q", got, tt.wantOrigin)
			}
		})
	}
	// A layer that sets one key leaves the others to the layers below.
	c, err := Load(Sources{File: file, Env: []string{"NATSSL_TRAIN_LR=0.3"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Train.Steps != 7 || c.Train.Optimizer != "adamw" {
		t.Errorf("steps=%d optimizer=%q, want 7 from the file and adamw from the defaults", c.Train.Steps, c.Train.Optimizer)
	}
}

func TestListsAndNestedKeys(t *testing.T) {
	tests := []struct {
		name string
		src  Sources
		want func(*Config) bool
	}{
		{"--set list in brackets", Sources{Env: []string{}, Sets: []string{"augment.crop_scale=[0.3, 0.9]"}},
			func(c *Config) bool { return c.Augment.CropScale == [2]float64{0.3, 0.9} }},
		{"--set list with commas", Sources{Env: []string{}, Sets: []string{"train.devices=cpu,cpu,cpu,cpu"}},
			func(c *Config) bool { return reflect.DeepEqual(c.Train.Devices, []string{"cpu", "cpu", "cpu", "cpu"}) }},
		{"two replicas on one GPU in tf32", Sources{Env: []string{}, Sets: []string{"train.devices=cuda:0,cuda:0", "train.precision=tf32"}},
			func(c *Config) bool {
				return reflect.DeepEqual(c.Train.Devices, []string{"cuda:0", "cuda:0"}) && c.Train.Precision == PrecisionTF32
			}},
		{"env list", Sources{Env: []string{"NATSSL_TRAIN_DEVICES=[cpu]"}},
			func(c *Config) bool { return reflect.DeepEqual(c.Train.Devices, []string{"cpu"}) }},
		{"auto", Sources{Env: []string{}, Sets: []string{"train.devices=[auto]"}},
			func(c *Config) bool { return reflect.DeepEqual(c.Train.Devices, []string{"auto"}) && c.Replicas() == 1 }},
		{"env nested key", Sources{Env: []string{"NATSSL_DATA_S3_ANONYMOUS=true", "NATSSL_AUGMENT_JITTER_HUE=0.05"}},
			func(c *Config) bool { return c.Data.S3.Anonymous && c.Augment.Jitter.Hue == 0.05 }},
		{"--set nested key", Sources{Env: []string{}, Sets: []string{"augment.blur.sigma=0.5,1.5", "data.s3.endpoint=http://127.0.0.1:9000"}},
			func(c *Config) bool {
				return c.Augment.Blur.Sigma == [2]float64{0.5, 1.5} && c.Data.S3.Endpoint == "http://127.0.0.1:9000"
			}},
		{"duration", Sources{Env: []string{}, Sets: []string{"train.time_limit=90s"}},
			func(c *Config) bool { return c.Train.TimeLimit.D() == 90*time.Second }},
		{"underscored key from env", Sources{Env: []string{"NATSSL_TRAIN_WEIGHT_DECAY=0.01"}},
			func(c *Config) bool { return c.Train.WeightDecay == 0.01 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.want(c) {
				t.Errorf("unexpected config:\n%s", mustYAML(t, c))
			}
		})
	}
}

func mustYAML(t *testing.T, c *Config) string {
	b, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestValidationErrors(t *testing.T) {
	tests := []struct {
		name string
		file string // YAML body, optional
		env  []string
		sets []string
		want []string // substrings of the one-line message
	}{
		{"unknown key from --set", "", nil, []string{"train.lrr=0.1"}, []string{"--set train.lrr=0.1", "train.lrr", "unknown key", "did you mean train.lr"}},
		{"unknown key in YAML with line", "run:\n  name: x\ntrain:\n  lrr: 0.1\n", nil, nil, []string{"run.yaml:4", "train.lrr", "unknown key"}},
		{"unknown section in YAML", "trian:\n  lr: 0.1\n", nil, nil, []string{"run.yaml:1", "trian", "unknown key"}},
		{"unknown env variable", "", []string{"NATSSL_TRAIN_LRR=1"}, nil, []string{"env NATSSL_TRAIN_LRR", "unknown environment variable", "did you mean NATSSL_TRAIN_LR, which sets train.lr?"}},
		{"unknown nested env variable", "", []string{"NATSSL_DATA_S3_REGIO=eu"}, nil, []string{"env NATSSL_DATA_S3_REGIO", "section data has no such key", "NATSSL_DATA_S3_REGION"}},
		{"learning_rate means lr", "", nil, []string{"train.learning_rate=0.1"}, []string{"train.learning_rate", "did you mean train.lr?"}},
		{"wrong type from --set", "", nil, []string{"train.steps=ten"}, []string{"train.steps", `"ten"`, "want an integer"}},
		{"wrong type in YAML with line", "data:\n  batch_size: many\n", nil, nil, []string{"run.yaml:2", "data.batch_size", "want an integer"}},
		{"wrong type from env", "", []string{"NATSSL_DATA_S3_ANONYMOUS=perhaps"}, nil, []string{"env NATSSL_DATA_S3_ANONYMOUS", "want true or false"}},
		{"batch size zero", "", nil, []string{"data.batch_size=0"}, []string{"data.batch_size", `"0"`, "at least 1"}},
		{"temperature zero", "", nil, []string{"train.temperature=0"}, []string{"train.temperature", "must be > 0"}},
		{"temperature negative in YAML", "train:\n  temperature: -0.5\n", nil, nil, []string{"run.yaml:2", "train.temperature", "must be > 0"}},
		{"probability above 1", "", nil, []string{"augment.flip_p=1.5"}, []string{"augment.flip_p", "probability"}},
		{"nested probability below 0", "augment:\n  jitter:\n    p: -0.1\n", nil, nil, []string{"run.yaml:3", "augment.jitter.p", "probability"}},
		{"crop scale min > max", "", nil, []string{"augment.crop_scale=[0.9,0.2]"}, []string{"augment.crop_scale", "min <= max"}},
		{"batch not divisible by devices", "", nil, []string{"data.batch_size=255", "train.devices=cpu,cpu"}, []string{"data.batch_size", "2 devices"}},
		{"bad device", "", nil, []string{"train.devices=tpu"}, []string{"train.devices", `"tpu" is not a device`}},
		{"device index with a leading zero", "", nil, []string{"train.devices=cuda:01"}, []string{"train.devices", `"cuda:01"`, "a GPU's index"}},
		{"CPU and GPU replicas", "", nil, []string{"train.devices=cpu,cuda:0"}, []string{"train.devices", "mixes the CPU and GPUs"}},
		{"bad precision", "", nil, []string{"train.precision=fp16"}, []string{"train.precision", `"fp16"`, "must be one of"}},
		{"tf32 on the CPU", "train:\n  precision: tf32\n", nil, nil, []string{"run.yaml:2", "train.precision", "tf32", "names none"}},
		{"auto among others", "", nil, []string{"train.devices=auto,cpu"}, []string{"train.devices", "auto stands alone"}},
		{"bad backbone", "", nil, []string{"model.backbone=vit"}, []string{"model.backbone", "must be one of"}},
		{"no GET in flight", "", nil, []string{"data.s3.concurrency=0"}, []string{"data.s3.concurrency", "must be in [1, 64]"}},
		{"too many GETs in flight", "data:\n  s3:\n    concurrency: 65\n", nil, nil, []string{"run.yaml:3", "data.s3.concurrency", "must be in [1, 64]"}},
		{"steps and epochs", "", nil, []string{"train.epochs=3"}, []string{"train.epochs", "not both"}},
		{"list of wrong length", "", nil, []string{"augment.crop_ratio=[1]"}, []string{"augment.crop_ratio", "list of 2"}},
		{"section given a value", "train: 5\n", nil, nil, []string{"run.yaml:1", "train", "want a mapping"}},
		{"malformed --set", "", nil, []string{"train.lr"}, []string{"--set train.lr", "--set needs key=value"}},
		{"bad duration", "", nil, []string{"train.time_limit=soon"}, []string{"train.time_limit", "duration"}},
		{"validation images without a suite", "", nil, []string{"eval.val_csv=", "eval.val_images=v.tar.gz"}, []string{"eval.val_images", "eval.val_csv", "empty"}},
		{"validation suite is the evaluation suite", "", nil, []string{"eval.val_csv=./data/fmnist/newt/labels.csv"}, []string{"eval.val_csv", "evaluation suite"}},
		{"no host", "sagemaker:\n  instance_count: 0\n", nil, nil, []string{"run.yaml:2", "sagemaker.instance_count", `"0"`}},
		{"negative monitor interval", "", nil, []string{"eval.monitor_every=-5"}, []string{"eval.monitor_every", `"-5"`, "at least 0"}},
		{"monitor scoring nothing", "eval:\n  monitor_knn: \"\"\n  monitor_newt_tasks: 0\n", nil, nil,
			[]string{"default", "eval.monitor_every", `"50"`, "nothing to score", "eval.monitor_knn"}},
		{"NeWT monitor without a suite", "", nil, []string{"eval.newt_csv=", "eval.monitor_newt_csv="},
			[]string{"eval.monitor_newt_tasks", "no suite", "eval.monitor_newt_csv"}},
		{"negative monitor tasks", "", nil, []string{"eval.monitor_newt_tasks=-1"}, []string{"eval.monitor_newt_tasks", "at least 0"}},
		{"kNN set of one image", "", []string{"NATSSL_EVAL_MONITOR_KNN_IMAGES=1"}, nil,
			[]string{"env NATSSL_EVAL_MONITOR_KNN_IMAGES", "eval.monitor_knn_images", "at least 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := Sources{Env: tt.env, Sets: tt.sets}
			if src.Env == nil {
				src.Env = []string{}
			}
			if tt.file != "" {
				src.File = writeFile(t, "run.yaml", tt.file)
			}
			_, err := Load(src)
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Load() error = %v, want *Errors", err)
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "config: ") {
					t.Errorf("line %q does not start with config:", line)
				}
			}
			found := false
			for _, e := range *errs {
				msg := e.Error()
				ok := true
				for _, w := range tt.want {
					if !strings.Contains(msg, w) {
						ok = false
					}
				}
				if ok {
					found = true
				}
			}
			if !found {
				t.Errorf("no error line contains all of %q; got:\n%v", tt.want, err)
			}
		})
	}
}

func TestEveryProblemReportedAtOnce(t *testing.T) {
	_, err := Load(Sources{Env: []string{}, Sets: []string{"train.lrr=1", "train.steps=ten", "data.batch_size=0"}})
	var errs *Errors
	if !errors.As(err, &errs) || len(*errs) != 3 {
		t.Fatalf("want 3 problems, got %v", err)
	}
}

func TestPresets(t *testing.T) {
	want := []string{"default", "fmnist", "inat21", "smoke"}
	if got := Presets(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Presets() = %v, want %v", got, want)
	}
	tests := []struct {
		file     string
		wantName string
	}{
		{"smoke", "smoke"},
		{"smoke.yaml", "smoke"},
		{"inat21", "inat21-simclr-r50"},
		{"fmnist", "fmnist-simclr"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			c, err := Load(Sources{File: tt.file, Env: []string{}})
			if err != nil {
				t.Fatal(err)
			}
			if c.Run.Name != tt.wantName {
				t.Errorf("run.name = %q, want %q", c.Run.Name, tt.wantName)
			}
		})
	}
	// A file on disk wins over a preset of the same name.
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.WriteFile("smoke", []byte("run:\n  name: local\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(Sources{File: "smoke", Env: []string{}})
	if err != nil || c.Run.Name != "local" {
		t.Fatalf("file named smoke: name=%v err=%v, want local", c.Run.Name, err)
	}
	// A folder of a preset's name (the repository has fmnist/) does not hide the preset.
	if err := os.Mkdir("fmnist", 0o755); err != nil {
		t.Fatal(err)
	}
	c, err = Load(Sources{File: "fmnist", Env: []string{}})
	if err != nil || c.Run.Name != "fmnist-simclr" {
		t.Fatalf("preset fmnist beside a folder fmnist: name=%v err=%v", c.Run.Name, err)
	}
	_, err = Load(Sources{File: "no-such-preset", Env: []string{}})
	if err == nil || !strings.Contains(err.Error(), "no embedded preset") {
		t.Errorf("unknown preset error = %v", err)
	}
}

func TestInat21Recipe(t *testing.T) {
	c, err := Load(Sources{File: "inat21", Env: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Data.ImageSize != 224 || c.Train.Optimizer != "lars" || c.Train.LR != 0.3 || c.Train.Temperature != 0.1 ||
		c.Augment.Jitter.Brightness != 0.8 || c.Augment.Blur.P != 0.5 || c.Augment.CropScale != [2]float64{0.08, 1} {
		t.Errorf("inat21 preset is not SimCLR's reference recipe:\n%s", mustYAML(t, c))
	}
}

func TestYAMLRoundTrip(t *testing.T) {
	for _, p := range Presets() {
		t.Run(p, func(t *testing.T) {
			c, err := Load(Sources{File: p, Env: []string{}})
			if err != nil {
				t.Fatal(err)
			}
			out := writeFile(t, "resolved.yaml", mustYAML(t, c))
			c2, err := Load(Sources{File: out, Env: []string{}})
			if err != nil {
				t.Fatalf("resolved YAML does not load back: %v", err)
			}
			if !reflect.DeepEqual(c.Flatten(), c2.Flatten()) {
				t.Errorf("round trip changed the config")
			}
		})
	}
}

func TestFlattenCoversEveryKey(t *testing.T) {
	for _, method := range Methods {
		t.Run(method, func(t *testing.T) {
			c := Default()
			c.Method.Name = method
			kv := c.Flatten()
			applies := 0
			for _, k := range Keys() {
				if c.Applies(k) {
					applies++
				}
			}
			if len(kv) != applies {
				t.Fatalf("Flatten has %d entries, %d keys apply", len(kv), applies)
			}
			got := map[string]string{}
			for _, e := range kv {
				got[e.Key] = e.Value
			}
			if got["train.devices"] != "[cpu, cpu]" || got["augment.crop_scale"] != "[0.08, 1]" || got["train.lr"] != "0.00266" ||
				got["method.name"] != method || got["augment.crops"] != "[]" {
				t.Errorf("unexpected flattened values: %v", got)
			}
			// Each method's own keys are there, and no other method's.
			for owner, keys := range methodKeys {
				for _, k := range keys {
					if _, ok := got[k]; ok != (owner == method) {
						t.Errorf("%s (a key of %s) in the params: %v", k, owner, ok)
					}
				}
			}
		})
	}
}

// TestPresetFilesWrittenOut: the smoke preset's input paths name its embedded files, written
// out once under the cache folder, so that it runs from any folder; a value from another
// layer is kept as given.
func TestPresetFilesWrittenOut(t *testing.T) {
	cache := t.TempDir()
	load := func(sets ...string) *Config {
		t.Helper()
		c, err := Load(Sources{File: "smoke", Env: []string{}, Sets: sets, CacheDir: cache})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := load()
	for _, p := range []string{c.Data.Source, c.Eval.NewtCSV, c.Eval.Images, c.Eval.ValCSV, c.Eval.ValImages, c.Eval.MonitorKNN} {
		if !filepath.IsAbs(p) || !strings.HasPrefix(p, cache) {
			t.Errorf("%s: want a path under %s", p, cache)
		}
		if _, err := os.Stat(p); err != nil {
			t.Error(err)
		}
	}
	// No key of the preset is left naming an embedded file by its relative path.
	for _, k := range Keys() {
		if v, _ := c.Get(k); strings.HasPrefix(asString(v), "smoke/") {
			t.Errorf("%s is %v: an embedded file not written out (configs.inputKeys)", k, v)
		}
	}
	jpgs, _ := filepath.Glob(filepath.Join(c.Data.Source, "*", "*.jpg"))
	if len(jpgs) != 56 {
		t.Errorf("%d images written out under %s", len(jpgs), c.Data.Source)
	}
	if again := load(); again.Data.Source != c.Data.Source {
		t.Errorf("second load: %s, first %s", again.Data.Source, c.Data.Source)
	}
	if got := load("data.source=photos").Data.Source; got != "photos" {
		t.Errorf("--set data.source=photos gave %q", got)
	}
	if _, err := Load(Sources{File: "smoke", Env: []string{}, CacheDir: "/proc/no-such-folder"}); err == nil || !strings.Contains(err.Error(), "data.source") {
		t.Errorf("unwritable cache folder: err = %v, want one naming data.source", err)
	}
}

func asString(v any) string {
	s, _ := v.(string)
	return s
}

// TestMonitorKeys: the monitor's keys as each layer sets them, and a monitor that is off
// asking nothing of the keys it would read.
func TestMonitorKeys(t *testing.T) {
	tests := []struct {
		name string
		src  Sources
		want func(*Config) bool
	}{
		{"the demo's defaults", Sources{Env: []string{}}, func(c *Config) bool {
			csv, images := c.Eval.MonitorSuite()
			return c.Eval.MonitorEvery == 50 && c.Eval.MonitorNewtTasks == 2 && c.Eval.MonitorKNNImages == 1000 &&
				c.Eval.MonitorKNN == "data/fmnist/monitor/images.tar" && csv == c.Eval.NewtCSV && images == c.Eval.Images
		}},
		{"a suite of its own", Sources{Env: []string{}, Sets: []string{"eval.monitor_newt_csv=m.csv", "eval.monitor_newt_images=m.tar"}},
			func(c *Config) bool { csv, images := c.Eval.MonitorSuite(); return csv == "m.csv" && images == "m.tar" }},
		{"off, with nothing to score", Sources{Env: []string{"NATSSL_EVAL_MONITOR_EVERY=0"}, Sets: []string{"eval.monitor_knn=", "eval.monitor_newt_tasks=0"}},
			func(c *Config) bool { return c.Eval.MonitorEvery == 0 }},
		{"kNN only", Sources{Env: []string{}, Sets: []string{"eval.monitor_newt_tasks=0", "eval.newt_csv="}},
			func(c *Config) bool { return c.Eval.MonitorNewtTasks == 0 && c.Eval.MonitorKNN != "" }},
		{"inat21 watches NeWT tasks only", Sources{File: "inat21", Env: []string{}},
			func(c *Config) bool {
				return c.Eval.MonitorEvery == 2000 && c.Eval.MonitorKNN == "" && c.Eval.MonitorNewtTasks == 8
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.want(c) {
				t.Errorf("unexpected config:\n%s", mustYAML(t, c))
			}
		})
	}
}
