package sagemaker

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"

	"github.com/natssl/natssl/configs"
)

func load(t *testing.T, sets ...string) *configs.Config {
	t.Helper()
	cfg, err := configs.Load(configs.Sources{Env: []string{}, Sets: sets})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// launchable is a config that Request accepts.
var launchable = []string{
	"sagemaker.image=123456789012.dkr.ecr.us-east-1.amazonaws.com/natssl:1",
	"sagemaker.role_arn=arn:aws:iam::123456789012:role/natssl",
	"sagemaker.output_s3=s3://bkt/out",
	"data.source=s3://bkt/inat21/train.json",
	"data.root=",
	"eval.newt_csv=s3://bkt/newt/newt2021_labels.csv",
	"eval.images=s3://bkt/newt/newt2021_images.tar.gz",
}

func TestHyperparametersRebuildTheConfig(t *testing.T) {
	for _, preset := range configs.Presets() {
		t.Run(preset, func(t *testing.T) {
			cfg, err := configs.Load(configs.Sources{Env: []string{}, File: preset, Sets: []string{"train.lr=0.125", "run.name=a b: c", "augment.crop_scale=[0.3, 0.9]"}})
			if err != nil {
				t.Fatal(err)
			}
			hp, err := Hyperparameters(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if len(hp) != len(cfg.Flatten()) {
				t.Errorf("sent %d keys, want all %d of the method's (they fit)", len(hp), len(cfg.Flatten()))
			}
			// Inside the job: no config file, the defaults and the hyperparameters alone.
			back, err := configs.Load(configs.Sources{Env: []string{}, Hyperparameters: hp, HyperparametersFile: "hyperparameters.json"})
			if err != nil {
				t.Fatal(err)
			}
			want, _ := cfg.YAML()
			got, _ := back.YAML()
			if string(got) != string(want) {
				t.Errorf("the job's config differs from the launched one:\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestHyperparametersOnlyChangedKeysWhenAllDoNotFit(t *testing.T) {
	cfg := load(t, "train.lr=0.125", "model.width=16")
	hp, err := hyperparameters(cfg, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"train.lr": "0.125", "model.width": "16"}
	if !maps.Equal(hp, want) {
		t.Errorf("got %v, want %v", hp, want)
	}
	if _, err := hyperparameters(cfg, 1); err == nil || !strings.Contains(err.Error(), "2 keys differ from the defaults, and SageMaker takes at most 1") {
		t.Errorf("two changed keys with room for one: err = %v", err)
	}
}

func TestHyperparametersValueTooLong(t *testing.T) {
	cfg := load(t, "data.source=s3://bkt/"+strings.Repeat("x", MaxValueLen))
	_, err := Hyperparameters(cfg)
	if err == nil || !strings.Contains(err.Error(), "data.source is 2509 characters long; SageMaker takes hyperparameter values of at most 2500") {
		t.Fatalf("err = %v", err)
	}
}

func TestRequest(t *testing.T) {
	cfg := load(t, append(launchable, "sagemaker.max_run_s=3600")...)
	in, warnings, err := Request(cfg, "fmnist-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings: %q, want none", warnings)
	}
	check := func(what, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %q, want %q", what, got, want)
		}
	}
	check("name", aws.ToString(in.TrainingJobName), "fmnist-1")
	check("image", aws.ToString(in.AlgorithmSpecification.TrainingImage), cfg.SageMaker.Image)
	check("role", aws.ToString(in.RoleArn), cfg.SageMaker.RoleARN)
	check("output", aws.ToString(in.OutputDataConfig.S3OutputPath), "s3://bkt/out")
	check("checkpoints", aws.ToString(in.CheckpointConfig.S3Uri), "s3://bkt/out/fmnist-1/checkpoints")
	check("checkpoint path", aws.ToString(in.CheckpointConfig.LocalPath), "/opt/ml/checkpoints")
	check("instance type", string(in.ResourceConfig.InstanceType), "ml.g5.2xlarge")
	if aws.ToInt32(in.ResourceConfig.InstanceCount) != 1 || !aws.ToBool(in.EnableManagedSpotTraining) {
		t.Errorf("instances %d spot %v, want 1 on spot", aws.ToInt32(in.ResourceConfig.InstanceCount), aws.ToBool(in.EnableManagedSpotTraining))
	}
	if run, wait := aws.ToInt32(in.StoppingCondition.MaxRuntimeInSeconds), aws.ToInt32(in.StoppingCondition.MaxWaitTimeInSeconds); run != 3600 || wait != 7200 {
		t.Errorf("max run %d wait %d, want 3600 and 7200", run, wait)
	}
	var got []string
	for _, c := range in.InputDataConfig {
		got = append(got, aws.ToString(c.ChannelName)+" "+aws.ToString(c.DataSource.S3DataSource.S3Uri)+" "+string(c.InputMode))
	}
	want := []string{"train s3://bkt/inat21/ File", "newt s3://bkt/newt/ File"}
	if !slices.Equal(got, want) {
		t.Errorf("channels %q, want %q", got, want)
	}
	if in.HyperParameters["train.lr"] != "0.00266" || in.HyperParameters["data.source"] != "s3://bkt/inat21/train.json" {
		t.Errorf("hyperparameters %v", in.HyperParameters)
	}
}

func TestRequestVariants(t *testing.T) {
	tests := []struct {
		name  string
		sets  []string
		check func(t *testing.T, c []types.Channel, stop *types.StoppingCondition, ckpt string, warnings []string)
	}{
		{name: "no spot: no wait time", sets: []string{"sagemaker.use_spot=false"},
			check: func(t *testing.T, _ []types.Channel, stop *types.StoppingCondition, _ string, _ []string) {
				if stop.MaxWaitTimeInSeconds != nil {
					t.Errorf("MaxWaitTimeInSeconds = %d without spot", *stop.MaxWaitTimeInSeconds)
				}
			}},
		{name: "long spot run: wait capped but never below the run", sets: []string{"sagemaker.max_run_s=2000000"},
			check: func(t *testing.T, _ []types.Channel, stop *types.StoppingCondition, _ string, _ []string) {
				if w := aws.ToInt32(stop.MaxWaitTimeInSeconds); w != 28*24*3600 {
					t.Errorf("wait %d, want 28 days", w)
				}
			}},
		{name: "tar shards are streamed", sets: []string{"data.source=s3://bkt/shards/train-{000..009}.tar"},
			check: func(t *testing.T, c []types.Channel, _ *types.StoppingCondition, _ string, _ []string) {
				if c[0].InputMode != types.TrainingInputModeFastfile || aws.ToString(c[0].DataSource.S3DataSource.S3Uri) != "s3://bkt/shards/" {
					t.Errorf("train channel %s %s, want FastFile s3://bkt/shards/", c[0].InputMode, aws.ToString(c[0].DataSource.S3DataSource.S3Uri))
				}
			}},
		{name: "explicit checkpoint URI", sets: []string{"sagemaker.checkpoint_s3=s3://bkt/ckpt/run1"},
			check: func(t *testing.T, _ []types.Channel, _ *types.StoppingCondition, ckpt string, _ []string) {
				if ckpt != "s3://bkt/ckpt/run1" {
					t.Errorf("checkpoint URI %q", ckpt)
				}
			}},
		{name: "local eval suite: no newt channel, a warning", sets: []string{"eval.newt_csv=data/l.csv", "eval.images=data/i"},
			check: func(t *testing.T, c []types.Channel, _ *types.StoppingCondition, _ string, w []string) {
				if len(c) != 1 || len(w) != 1 || !strings.Contains(w[0], "the job gets no newt channel") {
					t.Errorf("channels %d warnings %q", len(c), w)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, w, err := Request(load(t, append(slices.Clone(launchable), tt.sets...)...), "j")
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, in.InputDataConfig, in.StoppingCondition, aws.ToString(in.CheckpointConfig.S3Uri), w)
		})
	}
}

func TestRequestRefusesWhatCannotRun(t *testing.T) {
	cfg := load(t, "data.source=testdata/smoke")
	_, _, err := Request(cfg, "-bad_name")
	if err == nil {
		t.Fatal("Request accepted the default config")
	}
	for _, want := range []string{
		`job name "-bad_name"`,
		"sagemaker.image is empty",
		`sagemaker.role_arn "" is not an IAM role ARN`,
		`sagemaker.output_s3 "" is not an s3:// URL`,
		`data.source "testdata/smoke" is not an s3:// URL`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestJobName(t *testing.T) {
	now := time.Date(2026, 11, 28, 1, 35, 0, 0, time.UTC)
	tests := []struct{ run, want string }{
		{"fmnist-simclr", "fmnist-simclr-20261128-013500"},
		{"iNat 2021 / resnet50", "iNat-2021-resnet50-20261128-013500"},
		{"__", "natssl-20261128-013500"},
		{strings.Repeat("a", 80), strings.Repeat("a", 47) + "-20261128-013500"},
	}
	for _, tt := range tests {
		got := JobName(tt.run, now)
		if got != tt.want || !jobNameRE.MatchString(got) {
			t.Errorf("JobName(%q) = %q, want %q (valid for SageMaker)", tt.run, got, tt.want)
		}
	}
}

func TestRequestJSON(t *testing.T) {
	in, _, err := Request(load(t, launchable...), "j")
	if err != nil {
		t.Fatal(err)
	}
	b, err := RequestJSON(in)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "null") {
		t.Errorf("unset fields printed:\n%s", b)
	}
	if hp, ok := m["HyperParameters"].(map[string]any)["data.s3.endpoint"]; !ok || hp != "" {
		t.Errorf("empty hyperparameter data.s3.endpoint dropped: %v", hp)
	}
}

// TestRequestSeveralInstances: a job of several instances is launched as asked, with no
// warning: its hosts train one model over MPI (the image's natssl needs MPI, which only the
// job can tell).
func TestRequestSeveralInstances(t *testing.T) {
	cfg := load(t, append(launchable, "sagemaker.instance_count=4", "train.devices=[auto]")...)
	in, warnings, err := Request(cfg, "fmnist-4")
	if err != nil || len(warnings) != 0 {
		t.Fatalf("err %v, warnings %q; want neither", err, warnings)
	}
	if n := aws.ToInt32(in.ResourceConfig.InstanceCount); n != 4 {
		t.Errorf("instances %d, want 4", n)
	}
}
