package configs

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/natssl/natssl/trainer/cuda"
)

func TestSuggest(t *testing.T) {
	tests := []struct{ in, want string }{
		{"train.learning_rate", "train.lr"},     // by meaning
		{"train.lrr", "train.lr"},               // by spelling
		{"lr", "train.lr"},                      // the section left out
		{"model.lr", "train.lr"},                // the wrong section
		{"train.batch_size", "data.batch_size"}, // the key of another section
		{"train.bs", "data.batch_size"},
		{"model.arch", "model.backbone"},
		{"train.max_steps", "train.steps"},
		{"train.wd", "train.weight_decay"},
		{"run.output_dir", "run.out_dir"},
		{"data.sourse", "data.source"},
		{"train.num_workers", "data.workers"},
		{"eval.probe", "eval.classifier"},
		{"train.val_check_interval", "eval.monitor_every"},
		{"eval.val_dir", "eval.val_images"},
		{"data.s3.max_concurrency", "data.s3.concurrency"},
		{"eval.monitor_evry", "eval.monitor_every"},
		{"method.base_tau_momentum", "method.tau_base"}, // solo-learn's names
		{"method.var_loss_weight", "method.std_coeff"},
		{"method.lamb", "method.lambda"},
		{"augment.num_crops", "augment.crops"},
		{"zzzz.qqqq", ""},
	}
	for _, tt := range tests {
		if got := suggest(tt.in); got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	for leaf, key := range synonyms {
		found := false
		for _, k := range Keys() {
			if strings.HasSuffix(k, "."+key) {
				found = true
			}
		}
		if !found {
			t.Errorf("synonym %s → %s: no key ends in .%s", leaf, key, key)
		}
	}
}

// TestEnvWarnings: a NATSSL_* variable outside every section is not natssl's: a warning, and
// the config loads; one of a section that sets no key is refused.
func TestEnvWarnings(t *testing.T) {
	c, err := Load(Sources{Env: []string{"NATSSL_PHOTOS=/tmp/p", "NATSSL_TRAIN_LR=0.5", "HOME=/root", "NATSSL_SCREENSHOT_DIR=",
		"NATSSL_CUDA_LIB_DIR=/opt/cuda/lib64", "NATSSL_DATA_S3_CONCURRENCY=8", "NATSSL_EVAL_MONITOR_EVERY=0"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Train.LR != 0.5 || c.Data.S3.Concurrency != 8 || c.Eval.MonitorEvery != 0 {
		t.Errorf("train.lr %v, data.s3.concurrency %v, eval.monitor_every %v from the environment, want 0.5, 8, 0",
			c.Train.LR, c.Data.S3.Concurrency, c.Eval.MonitorEvery)
	}
	w := c.Warnings()
	if len(w) != 1 || !strings.Contains(w[0], "env NATSSL_PHOTOS") || !strings.Contains(w[0], "ignored") || !strings.Contains(w[0], "run, sagemaker, train") {
		t.Errorf("warnings %q, want one about NATSSL_PHOTOS", w)
	}
	if c, err := Load(Sources{Env: []string{}}); err != nil || len(c.Warnings()) != 0 {
		t.Errorf("warnings without NATSSL_ variables: %v, %v", c.Warnings(), err)
	}
	// Every section's keys are refused when misspelt, the newer ones too.
	for name, want := range map[string]string{
		"NATSSL_EVAL_MONITOR_EVRY":   "NATSSL_EVAL_MONITOR_EVERY",
		"NATSSL_DATA_S3_CONCURENCY":  "NATSSL_DATA_S3_CONCURRENCY",
		"NATSSL_EVAL_VAL_IMAGE":      "NATSSL_EVAL_VAL_IMAGES",
		"NATSSL_SAGEMAKER_ROLE_ARNN": "NATSSL_SAGEMAKER_ROLE_ARN",
	} {
		_, err := Load(Sources{Env: []string{name + "=1"}})
		if err == nil || !strings.Contains(err.Error(), "did you mean "+want) {
			t.Errorf("%s: %v, want it refused with %s suggested", name, err, want)
		}
	}
}

// TestOwnEnv: the variables natssl reads beside its config are the ones loading lets be.
func TestOwnEnv(t *testing.T) {
	if !slices.Contains(OwnEnv, cuda.LibDirEnv) {
		t.Errorf("OwnEnv %v lacks %s, which trainer/cuda reads", OwnEnv, cuda.LibDirEnv)
	}
}

func TestValues(t *testing.T) {
	tests := []struct {
		key  string
		want []string
	}{
		{"method.name", Methods},
		{"model.backbone", backbones},
		{"train.optimizer", optimizers},
		{"eval.classifier", classifiers},
		{"data.s3.anonymous", []string{"true", "false"}},
		{"train.lr", nil},
	}
	for _, tt := range tests {
		if got := Values(tt.key); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Values(%s) = %v, want %v", tt.key, got, tt.want)
		}
	}
	for _, v := range Values("train.devices") {
		if _, err := Load(Sources{Env: []string{}, Sets: []string{"train.devices=" + v, "data.batch_size=256"}}); err != nil {
			t.Errorf("completion value %q of train.devices does not load: %v", v, err)
		}
	}
}
