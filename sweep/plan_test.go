package sweep

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/experiments"
)

// smoke is the smoke preset (its files embedded, written out under the cache folder).
func smoke(t *testing.T, sets ...string) configs.Sources {
	t.Helper()
	return configs.Sources{File: "smoke", Env: []string{}, Sets: sets}
}

func params(t *testing.T, raw ...string) []Param {
	t.Helper()
	var ps []Param
	for _, r := range raw {
		p, err := ParseParam(r)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	return ps
}

// valuesOf writes each trial as "config/seed: k=v k=v".
func valuesOf(ts []experiments.SweepTrial) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = fmt.Sprintf("%d/%d: %s", t.Config, t.Seed, Values(t))
	}
	return out
}

func TestGridExpansion(t *testing.T) {
	p, err := NewPlan(smoke(t), Design{Params: params(t, "train.temperature=0.1,0.5", "model.width=8,16,32"), Seeds: 2, Budget: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"1/42: train.temperature=0.1 model.width=8", "1/43: train.temperature=0.1 model.width=8",
		"2/42: train.temperature=0.1 model.width=16", "2/43: train.temperature=0.1 model.width=16",
		"3/42: train.temperature=0.1 model.width=32", "3/43: train.temperature=0.1 model.width=32",
		"4/42: train.temperature=0.5 model.width=8", "4/43: train.temperature=0.5 model.width=8",
		"5/42: train.temperature=0.5 model.width=16", "5/43: train.temperature=0.5 model.width=16",
		"6/42: train.temperature=0.5 model.width=32", "6/43: train.temperature=0.5 model.width=32",
	}
	if got := valuesOf(p.Trials); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("trials:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for i, tr := range p.Trials {
		if tr.N != i+1 {
			t.Errorf("trial %d numbered %d", i+1, tr.N)
		}
	}
	if p.Configs != 6 || p.Base.Train.TimeLimit.D() != 30*time.Second || strings.Join(p.Keys, ",") != "train.temperature,model.width" {
		t.Errorf("configs %d, budget %v, keys %v", p.Configs, p.Base.Train.TimeLimit, p.Keys)
	}
}

func TestRandomExpansion(t *testing.T) {
	design := Design{Random: 12, Params: params(t, "train.lr=log:0.0001..0.01", "model.width=8,16", "model.proj_dim=8..32",
		"augment.jitter.brightness+augment.jitter.hue=0.2/0.05,0.4/0.1")}
	a, err := NewPlan(smoke(t), design)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Trials) != 12 || a.Configs != 12 {
		t.Fatalf("%d trials of %d configurations, want 12", len(a.Trials), a.Configs)
	}
	seen := map[string]bool{}
	for _, tr := range a.Trials {
		v := map[string]string{}
		for _, kv := range tr.Values {
			v[kv.Key] = kv.Value
		}
		var lr float64
		var dim int
		fmt.Sscan(v["train.lr"], &lr)
		_, err := fmt.Sscan(v["model.proj_dim"], &dim)
		if !(lr >= 0.0001 && lr <= 0.01) || err != nil || dim < 8 || dim > 32 {
			t.Errorf("trial %d: %s out of its ranges", tr.N, Values(tr))
		}
		if v["model.width"] != "8" && v["model.width"] != "16" {
			t.Errorf("trial %d: width %s is not listed", tr.N, v["model.width"])
		}
		if pair := v["augment.jitter.brightness"] + "/" + v["augment.jitter.hue"]; pair != "0.2/0.05" && pair != "0.4/0.1" {
			t.Errorf("trial %d: tied keys drawn apart: %s", tr.N, pair)
		}
		if seen[Values(tr)] {
			t.Errorf("trial %d repeats an earlier configuration: %s", tr.N, Values(tr))
		}
		seen[Values(tr)] = true
	}
	b, err := NewPlan(configs.Sources{File: "smoke", Env: []string{}}, design)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(valuesOf(a.Trials), "\n") != strings.Join(valuesOf(b.Trials), "\n") {
		t.Error("the same design and run.seed drew different trials")
	}
	c, err := NewPlan(configs.Sources{File: "smoke", Env: []string{}, Sets: []string{"run.seed=7"}}, design)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(valuesOf(a.Trials), "\n") == strings.Join(valuesOf(c.Trials), "\n") {
		t.Error("another run.seed drew the same trials")
	}
	_, err = NewPlan(configs.Sources{File: "smoke", Env: []string{}}, Design{Random: 5, Params: params(t, "model.width=8,16")})
	var ue *UsageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "only 2 distinct configurations") {
		t.Errorf("5 draws from 2 values: error %v", err)
	}
}

// TestPlanValidation: every bad key and value is reported at once, before anything runs, each
// naming the key, the value and the --param it came from.
func TestPlanValidation(t *testing.T) {
	src := smoke(t)
	tests := []struct {
		name   string
		design Design
		want   []string // one line of the error each
	}{
		{"bad values", Design{Params: params(t, "train.temperature=0.1,-1,abc", "model.width=8,0")}, []string{
			`--param train.temperature=0.1,-1,abc: train.temperature = "-1": must be > 0`,
			`--param train.temperature=0.1,-1,abc: train.temperature = "abc": want a number`,
			`--param model.width=8,0: model.width = "0": must be at least 1`,
		}},
		{"unknown key", Design{Params: params(t, "train.temprature=0.1")}, []string{"--param train.temprature=0.1: train.temprature", "did you mean train.temperature"}},
		{"range ends", Design{Random: 3, Params: params(t, "augment.flip_p=0.5..1.5")}, []string{`augment.flip_p = "1.5": a probability`}},
		{"range in a grid", Design{Params: params(t, "train.lr=log:0.001..0.1")}, []string{"--param train.lr=log:0.001..0.1", "add --random N"}},
		{"range on a list key", Design{Random: 2, Params: params(t, "train.devices=1..2")}, []string{"train.devices", "needs a numeric key"}},
		{"reserved key", Design{Params: params(t, "run.name=a,b")}, []string{"run.name", "cannot be swept"}},
		{"seed with --seeds", Design{Seeds: 2, Params: params(t, "run.seed=1,2")}, []string{"run.seed", "--seeds"}},
		{"key swept twice", Design{Params: params(t, "model.width=8", "model.width+train.lr=16")}, []string{"already swept"}},
		{"combination", Design{Params: params(t, "data.batch_size=16,15", "train.devices=[cpu],[cpu,cpu]")},
			[]string{"data.batch_size", "divide evenly over the 2 devices"}},
		{"credentials in a swept value", Design{Params: params(t, "data.s3.endpoint=http://10.0.0.1:9000,http://key:hush@10.0.0.2:9000")},
			[]string{"data.s3.endpoint", "http://xxxxx@10.0.0.2:9000", "carries credentials"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewPlan(src, tt.design)
			if err != nil && strings.Contains(err.Error(), "hush") {
				t.Errorf("the error shows a password: %v", err)
			}
			var ce *configs.Errors
			if !errors.As(err, &ce) {
				t.Fatalf("error %v, want *configs.Errors", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestPlanRefusesCredentials: a base config whose endpoint carries credentials is refused
// before anything is stored: its trials would run with them masked.
func TestPlanRefusesCredentials(t *testing.T) {
	_, err := NewPlan(smoke(t, "data.s3.endpoint=https://key:hush@minio.example:9000"), Design{Params: params(t, "model.width=8,16")})
	var ce *configs.Errors
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "data.s3.endpoint") || !strings.Contains(err.Error(), "carries credentials") ||
		strings.Contains(err.Error(), "hush") {
		t.Errorf("error %v, want a config error naming data.s3.endpoint, its credentials masked", err)
	}
}

func TestPlanSuites(t *testing.T) {
	src := smoke(t)
	design := Design{Params: params(t, "model.width=8")}
	dir := t.TempDir()
	overlap := filepath.Join(dir, "val.csv")
	b, err := os.ReadFile("../configs/smoke/newt/labels.csv")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(overlap, b, 0o644)
	tests := []struct {
		name string
		sets []string
		want string
	}{
		{"no validation suite", []string{"eval.val_csv=", "eval.val_images="}, "no validation suite"},
		{"validation images missing", []string{"eval.val_images=" + filepath.Join(dir, "none")}, "eval.val_images"},
		{"validation suite shares test images", []string{"eval.val_csv=" + overlap, "eval.val_images=../configs/smoke/newt/images"}, "shares 64 images with the evaluation suite"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := src
			s.Sets = tt.sets
			_, err := NewPlan(s, design)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one saying %q", err, tt.want)
			}
		})
	}
	if _, err := NewPlan(src, design); err != nil {
		t.Errorf("the smoke config's suites: %v", err)
	}
}

// TestPlanMonitorSuite: the trials' NeWT monitor, which outside a sweep follows the evaluation
// suite, follows the validation suite; a monitor suite of the config's own is kept unless it
// shares images with the evaluation suite; and no trial watches another suite.
func TestPlanMonitorSuite(t *testing.T) {
	design := Design{Params: params(t, "model.width=8")}
	p, err := NewPlan(smoke(t), design)
	if err != nil {
		t.Fatal(err)
	}
	e := p.Base.Eval
	if csv, images := e.MonitorSuite(); csv != e.ValCSV || images != e.ValImagesPath() || csv == e.NewtCSV {
		t.Errorf("the trials' monitor suite is %s (images %s), want the validation suite %s (%s)", csv, images, e.ValCSV, e.ValImagesPath())
	}
	if n := e.MonitorNewtTasks; e.MonitorEvery == 0 || n == 0 {
		t.Errorf("the smoke config's monitor is off in its sweep: every %d steps, %d tasks", e.MonitorEvery, n)
	}
	// Stored with the sweep, as each trial's config reads it.
	_, stored := newSweep(t, design)
	if cfg, err := stored.Config(1); err != nil || cfg.Eval.MonitorNewtCSV != e.ValCSV || cfg.Eval.MonitorNewtImages != e.ValImagesPath() {
		t.Errorf("trial 1's monitor suite: %v (%v), want the validation suite", cfg, err)
	}

	own := filepath.Join(t.TempDir(), "own.csv")
	b, err := os.ReadFile(e.ValCSV)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(own, b, 0o644)
	p, err = NewPlan(smoke(t, "eval.monitor_newt_csv="+own, "eval.monitor_newt_images="+e.ValImagesPath()), design)
	if err != nil || p.Base.Eval.MonitorNewtCSV != own {
		t.Errorf("a monitor suite of its own: %v, monitor suite %v", err, p)
	}
	_, err = NewPlan(smoke(t, "eval.monitor_newt_csv="+e.NewtCSV), design)
	if err == nil || !strings.Contains(err.Error(), "monitor suite "+e.NewtCSV+" shares 64 images with the evaluation suite") {
		t.Errorf("a monitor on the evaluation suite: error %v", err)
	}
	if _, err := NewPlan(smoke(t, "eval.monitor_newt_csv="+e.NewtCSV, "eval.monitor_newt_tasks=0"), design); err != nil {
		t.Errorf("the evaluation suite named for a NeWT monitor that is off: %v", err)
	}
	_, err = NewPlan(smoke(t), Design{Params: params(t, "eval.monitor_newt_csv=a.csv,b.csv")})
	if err == nil || !strings.Contains(err.Error(), "every trial is watched on the same suite") {
		t.Errorf("sweeping the monitor's suite: error %v", err)
	}
}
