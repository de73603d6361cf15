package sagemaker

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestOpenReadsTheJobFiles(t *testing.T) {
	j, err := Open("testdata/job")
	if err != nil {
		t.Fatal(err)
	}
	wantHP := map[string]string{"train.lr": "0.3", "train.steps": "4", "model.width": "8"}
	if !reflect.DeepEqual(j.Hyperparameters, wantHP) {
		t.Errorf("hyperparameters = %v, want %v (sagemaker_* dropped)", j.Hyperparameters, wantHP)
	}
	if j.CurrentHost != "algo-2" || j.Rank() != 1 || j.HostCount() != 3 || j.Leader() {
		t.Errorf("host %s rank %d of %d leader %v, want algo-2 rank 1 of 3, not leader", j.CurrentHost, j.Rank(), j.HostCount(), j.Leader())
	}
	if got, want := j.RunDir(), filepath.Join("testdata/job/checkpoints/algo-2"); got != want {
		t.Errorf("RunDir() = %q, want %q: hosts share the checkpoint URI", got, want)
	}
	if s, n := j.Shard(); s != 1 || n != 3 {
		t.Errorf("Shard() = %d, %d, want 1, 3", s, n)
	}
	want := map[string]Channel{
		"train": {Name: "train", Mode: "FastFile", Distribution: "FullyReplicated", Dir: filepath.Join("testdata/job/input/data/train")},
		"newt":  {Name: "newt", Mode: "File", Distribution: "FullyReplicated", Dir: filepath.Join("testdata/job/input/data/newt")},
	}
	if !reflect.DeepEqual(j.Channels, want) {
		t.Errorf("channels = %+v, want %+v", j.Channels, want)
	}
	if got := j.ChannelNames(); !reflect.DeepEqual(got, []string{"newt", "train"}) {
		t.Errorf("ChannelNames() = %v", got)
	}
}

func TestOpenWithoutOptionalFiles(t *testing.T) {
	base := t.TempDir()
	if err := os.MkdirAll(filepath.Join(base, "input", "config"), 0o755); err != nil {
		t.Fatal(err)
	}
	j, err := Open(base)
	if err != nil {
		t.Fatal(err)
	}
	if len(j.Hyperparameters) != 0 || len(j.Channels) != 0 || j.HostCount() != 1 || !j.Leader() || j.RunDir() != j.CheckpointDir() {
		t.Errorf("job = %+v, want no overrides, no channels, one host that leads", j)
	}
}

func TestOpenNotAJob(t *testing.T) {
	_, err := Open(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "not inside a training job") {
		t.Fatalf("Open(empty dir) = %v, want ErrNotAJob", err)
	}
}

func TestDetect(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if base, ok := Detect(env(map[string]string{BaseEnv: "/tmp/x"})); !ok || base != "/tmp/x" {
		t.Errorf("Detect with %s = %q, %v", BaseEnv, base, ok)
	}
	_, statErr := os.Stat("/opt/ml/input/config")
	if _, ok := Detect(env(nil)); ok != (statErr == nil) {
		t.Errorf("Detect without %s = %v, but /opt/ml/input/config: %v", BaseEnv, ok, statErr)
	}
}

func TestParseHyperparameters(t *testing.T) {
	tests := []struct {
		name, in string
		want     map[string]string
		err      string
	}{
		{name: "strings", in: `{"train.lr": "0.3", "train.devices": "[cpu, cpu]"}`, want: map[string]string{"train.lr": "0.3", "train.devices": "[cpu, cpu]"}},
		{name: "sagemaker keys dropped", in: `{"sagemaker_program": "\"x\"", "run.seed": "7"}`, want: map[string]string{"run.seed": "7"}},
		{name: "hand-written numbers and booleans", in: `{"train.lr": 0.3, "sagemaker.use_spot": false}`, want: map[string]string{"train.lr": "0.3", "sagemaker.use_spot": "false"}},
		{name: "empty object", in: `{}`, want: map[string]string{}},
		{name: "object value", in: `{"train.lr": {"a": 1}}`, err: `hp.json: hyperparameter "train.lr" = {"a": 1}: want a string`},
		{name: "syntax error names the line", in: "{\n\"train.lr\": \"0.3\",\n}", err: "hp.json:3: not valid JSON"},
		{name: "not an object", in: `["train.lr"]`, err: "hp.json:1: top level: got a JSON array, want an object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseHyperparameters([]byte(tt.in), "hp.json")
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseResourceConfig(t *testing.T) {
	tests := []struct {
		name, in string
		host     string
		hosts    []string
		iface    string
		err      string
	}{
		{name: "one host", in: `{"current_host": "algo-1", "hosts": ["algo-1"]}`, host: "algo-1", hosts: []string{"algo-1"}},
		{name: "second of two", in: `{"current_host": "algo-2", "hosts": ["algo-1", "algo-2"]}`, host: "algo-2", hosts: []string{"algo-1", "algo-2"}},
		{name: "hosts sorted, interface", in: `{"current_host": "algo-1", "hosts": ["algo-2", "algo-1"], "network_interface_name": "eth0"}`,
			host: "algo-1", hosts: []string{"algo-1", "algo-2"}, iface: "eth0"},
		{name: "no current host", in: `{"hosts": ["algo-1"]}`, err: "current_host is missing"},
		{name: "no hosts", in: `{"current_host": "algo-1", "hosts": []}`, err: "hosts is missing or empty"},
		{name: "current host not listed", in: `{"current_host": "algo-9", "hosts": ["algo-1"]}`, err: `current_host "algo-9" is not one of hosts`},
		{name: "host twice", in: `{"current_host": "algo-1", "hosts": ["algo-1", "algo-1"]}`, err: `host "algo-1" listed twice`},
		{name: "hosts not a list", in: `{"current_host": "algo-1", "hosts": "algo-1"}`, err: "rc.json:1: hosts: got a JSON string, want an array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc, err := parseResourceConfig([]byte(tt.in), "rc.json")
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rc.CurrentHost != tt.host || !reflect.DeepEqual(rc.Hosts, tt.hosts) || rc.NetworkInterface != tt.iface {
				t.Errorf("got %+v, want %s %v %q", rc, tt.host, tt.hosts, tt.iface)
			}
		})
	}
}

func TestParseInputDataConfig(t *testing.T) {
	tests := []struct {
		name, in string
		want     map[string]Channel
		err      string
	}{
		{name: "file and fastfile", in: `{"train": {"TrainingInputMode": "File"}, "newt": {"TrainingInputMode": "FastFile", "S3DistributionType": "ShardedByS3Key"}}`,
			want: map[string]Channel{
				"train": {Name: "train", Mode: "File", Distribution: "FullyReplicated", Dir: filepath.Join("d", "train")},
				"newt":  {Name: "newt", Mode: "FastFile", Distribution: "ShardedByS3Key", Dir: filepath.Join("d", "newt")},
			}},
		{name: "mode defaults to File", in: `{"train": {}}`, want: map[string]Channel{"train": {Name: "train", Mode: "File", Distribution: "FullyReplicated", Dir: filepath.Join("d", "train")}}},
		{name: "pipe refused", in: `{"train": {"TrainingInputMode": "Pipe"}}`, err: `channel "train" uses Pipe mode`},
		{name: "unknown mode", in: `{"train": {"TrainingInputMode": "Stream"}}`, err: `unknown TrainingInputMode "Stream"`},
		{name: "name escapes the data folder", in: `{"../etc": {}}`, err: `channel name "../etc" is not a folder name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseInputDataConfig([]byte(tt.in), "idc.json", "d")
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestShardedChannelIsNotShardedAgain(t *testing.T) {
	j := &Job{CurrentHost: "algo-2", Hosts: []string{"algo-1", "algo-2"},
		Channels: map[string]Channel{"train": {Name: "train", Distribution: "ShardedByS3Key"}}}
	if s, n := j.Shard(); s != 0 || n != 1 {
		t.Errorf("Shard() = %d, %d; SageMaker already split the channel, want 0, 1", s, n)
	}
}

// FuzzParseConfigFiles feeds every parser every input: none may panic, and what parses must
// satisfy the parser's promises.
func FuzzParseConfigFiles(f *testing.F) {
	for _, name := range []string{"hyperparameters.json", "resourceconfig.json", "inputdataconfig.json"} {
		b, err := os.ReadFile(filepath.Join("testdata/job/input/config", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"a": 1e400}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if hp, err := parseHyperparameters(data, "f"); err == nil {
			for k := range hp {
				if strings.HasPrefix(k, "sagemaker_") {
					t.Errorf("kept SageMaker's own key %q", k)
				}
			}
		}
		if rc, err := parseResourceConfig(data, "f"); err == nil {
			j := &Job{CurrentHost: rc.CurrentHost, Hosts: rc.Hosts}
			if r := j.Rank(); r < 0 || r >= j.HostCount() || rc.Hosts[r] != rc.CurrentHost {
				t.Errorf("rank %d of %v for %q", r, rc.Hosts, rc.CurrentHost)
			}
		}
		if chs, err := parseInputDataConfig(data, "f", "d"); err == nil {
			for n, c := range chs {
				if filepath.Dir(c.Dir) != "d" || (c.Mode != "File" && c.Mode != "FastFile") {
					t.Errorf("channel %q = %+v", n, c)
				}
			}
		}
	})
}
