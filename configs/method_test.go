package configs

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestMethodKeys: each method's keys load with their reference defaults, a key of another
// method is refused naming both methods, and the run's YAML and params hold only the
// method's own keys.
func TestMethodKeys(t *testing.T) {
	tests := []struct {
		name string
		file string
		sets []string
		env  []string
		want func(*Config) bool
		err  []string // substrings of one error line; nil: loads
	}{
		{"simclr by default", "", nil, nil, func(c *Config) bool { return c.Method.Name == "simclr" && c.Train.Temperature == 0.16 }, nil},
		{"byol defaults", "", []string{"method.name=byol"}, nil, func(c *Config) bool {
			return c.Method.TauBase == 0.996 && c.Method.TauFinal == 1 && c.PredictorHidden() == c.Model.ProjHidden
		}, nil},
		{"byol predictor width", "", []string{"method.name=byol", "method.pred_hidden=64"}, nil, func(c *Config) bool { return c.PredictorHidden() == 64 }, nil},
		{"moco defaults", "method:\n  name: moco\n", nil, nil, func(c *Config) bool {
			m := c.Method
			return m.Momentum == 0.99 && m.MomentumFinal == 0.999 && m.QueueSize == 4096 && m.Temperature == 0.2
		}, nil},
		{"vicreg defaults", "", nil, []string{"NATSSL_METHOD_NAME=vicreg"}, func(c *Config) bool {
			return c.Method.SimCoeff == 25 && c.Method.StdCoeff == 25 && c.Method.CovCoeff == 1
		}, nil},
		{"barlow defaults", "", []string{"method.name=barlow"}, nil, func(c *Config) bool { return c.Method.Lambda == 0.0051 }, nil},
		{"barlow 1/d", "", []string{"method.name=barlow", "method.lambda=0.0078125"}, nil, func(c *Config) bool { return c.Method.Lambda == 1.0/128 }, nil},

		{"unknown method", "", []string{"method.name=swav"}, nil, nil, []string{"method.name", `"swav"`, "must be one of simclr, byol, moco, vicreg, barlow"}},
		{"queue of byol", "", []string{"method.name=byol", "method.queue_size=1024"}, nil, nil,
			[]string{"--set method.queue_size=1024", "method.queue_size", "is a key of MoCo v2 (method.name: moco), but method.name is byol", "method.tau_base"}},
		{"predictor of simclr in YAML", "method:\n  pred_hidden: 64\n", nil, nil, nil,
			[]string{"run.yaml:2", "method.pred_hidden", "is a key of BYOL", "method.name is simclr"}},
		{"SimCLR temperature under moco", "method:\n  name: moco\ntrain:\n  temperature: 0.3\n", nil, nil, nil,
			[]string{"run.yaml:4", "train.temperature", "SimCLR's temperature; MoCo v2's is method.temperature"}},
		{"MoCo temperature under simclr", "", []string{"method.temperature=0.1"}, nil, nil,
			[]string{"method.temperature", "SimCLR's is train.temperature"}},
		{"SimCLR temperature under barlow", "", []string{"method.name=barlow"}, []string{"NATSSL_TRAIN_TEMPERATURE=0.2"}, nil,
			[]string{"env NATSSL_TRAIN_TEMPERATURE", "train.temperature", "is a key of SimCLR", "Barlow Twins's keys: method.lambda"}},
		{"queue not a multiple of the batch", "", []string{"method.name=moco", "method.queue_size=1000"}, nil, nil,
			[]string{"method.queue_size", "multiple of data.batch_size 128"}},
		{"queue beyond the bound", "", []string{"method.name=moco", "method.queue_size=2097152"}, nil, nil,
			[]string{"method.queue_size", "at most 1048576"}},
		{"predictor beyond the bound", "", []string{"method.name=byol", "method.pred_hidden=100000"}, nil, nil,
			[]string{"method.pred_hidden", "at most 16384"}},
		{"EMA above 1", "", []string{"method.name=byol", "method.tau_base=1.5"}, nil, nil, []string{"method.tau_base", "[0, 1]"}},
		{"negative temperature", "", []string{"method.name=moco", "method.temperature=-1"}, nil, nil, []string{"method.temperature", "> 0"}},
		{"vicreg all zero", "", []string{"method.name=vicreg", "method.sim_coeff=0", "method.std_coeff=0", "method.cov_coeff=0"}, nil, nil,
			[]string{"method.sim_coeff", "nothing to train"}},
		{"negative lambda", "", []string{"method.name=barlow", "method.lambda=-1"}, nil, nil, []string{"method.lambda", ">= 0"}},
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
			c, err := Load(src)
			if tt.err == nil {
				if err != nil {
					t.Fatal(err)
				}
				if !tt.want(c) {
					t.Errorf("loaded %+v", c.Method)
				}
				return
			}
			assertErrorLine(t, err, tt.err)
		})
	}
}

func assertErrorLine(t *testing.T, err error, want []string) {
	t.Helper()
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error = %v, want *Errors", err)
	}
	for _, e := range *errs {
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(e.Error(), w)
		}
		if ok {
			return
		}
	}
	t.Errorf("no error line contains all of %q; got:\n%v", want, err)
}

// TestMethodYAMLHoldsOwnKeys: the resolved YAML of a run names only its method's keys and
// loads back as the same config; the copy of default.yaml (every key) loads for any method.
func TestMethodYAMLHoldsOwnKeys(t *testing.T) {
	for _, m := range Methods {
		t.Run(m, func(t *testing.T) {
			c, err := Load(Sources{Env: []string{}, Sets: []string{"method.name=" + m}})
			if err != nil {
				t.Fatal(err)
			}
			y := mustYAML(t, c)
			for owner, keys := range methodKeys {
				for _, k := range keys {
					leaf := k[strings.LastIndex(k, ".")+1:]
					section := k[:strings.Index(k, ".")]
					has := strings.Contains(sectionOf(y, section), "\n  "+leaf+":")
					if has != (owner == m) {
						t.Errorf("YAML has %s (a key of %s): %v\n%s", k, owner, has, y)
					}
				}
			}
			c2, err := Load(Sources{File: writeFile(t, "run.yaml", y), Env: []string{}})
			if err != nil {
				t.Fatalf("resolved YAML does not load back: %v", err)
			}
			if !reflect.DeepEqual(c.Flatten(), c2.Flatten()) {
				t.Errorf("round trip changed the config")
			}
			if _, err := Load(Sources{File: "default", Env: []string{}, Sets: []string{"method.name=" + m}}); err != nil {
				t.Errorf("the default preset with method.name=%s: %v", m, err)
			}
		})
	}
}

// sectionOf returns the lines of one top-level section of a YAML document.
func sectionOf(y, section string) string {
	i := strings.Index(y, "\n"+section+":\n")
	if i < 0 {
		return ""
	}
	rest := y[i+len(section)+3:]
	out := "\n"
	for _, line := range strings.Split(rest, "\n") {
		if !strings.HasPrefix(line, " ") {
			break
		}
		out += line + "\n"
	}
	return out
}

// TestCrops: augment.crops from YAML, --set and the environment, printed back as a list that
// loads again, and every malformed group refused naming what is wrong.
func TestCrops(t *testing.T) {
	multi := []Crop{{Size: 32, Count: 2, Scale: [2]float64{0.14, 1}}, {Size: 16, Count: 4, Scale: [2]float64{0.05, 0.14}}}
	ok := []struct {
		name string
		file string
		sets []string
		env  []string
	}{
		{"YAML block", "augment:\n  crops:\n    - {size: 32, count: 2, scale: [0.14, 1]}\n    - size: 16\n      count: 4\n      scale: [0.05, 0.14]\n", nil, nil},
		{"--set", "", []string{"augment.crops=[{size: 32, count: 2, scale: [0.14, 1]}, {size: 16, count: 4, scale: [0.05, 0.14]}]"}, nil},
		{"env", "", nil, []string{"NATSSL_AUGMENT_CROPS=[{size: 32, count: 2, scale: [0.14, 1]}, {size: 16, count: 4, scale: [0.05, 0.14]}]"}},
	}
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			src := Sources{Env: tt.env, Sets: tt.sets}
			if src.Env == nil {
				src.Env = []string{}
			}
			if tt.file != "" {
				src.File = writeFile(t, "run.yaml", tt.file)
			}
			c, err := Load(src)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.Augment.Crops, multi) || !reflect.DeepEqual(c.ViewGroups(), multi) {
				t.Fatalf("crops %+v", c.Augment.Crops)
			}
			flat := map[string]string{}
			for _, kv := range c.Flatten() {
				flat[kv.Key] = kv.Value
			}
			c2, err := Load(Sources{Env: []string{}, Sets: []string{"augment.crops=" + flat["augment.crops"]}})
			if err != nil || !reflect.DeepEqual(c2.Augment.Crops, multi) {
				t.Fatalf("flattened %q loads back as %+v, %v", flat["augment.crops"], c2, err)
			}
			c3, err := Load(Sources{File: writeFile(t, "resolved.yaml", mustYAML(t, c)), Env: []string{}})
			if err != nil || !reflect.DeepEqual(c3.Augment.Crops, multi) {
				t.Fatalf("resolved YAML loads back as %v, %v", c3, err)
			}
		})
	}
	c := Default()
	if want := []Crop{{Size: 32, Count: 2, Scale: [2]float64{0.08, 1}}}; !reflect.DeepEqual(c.ViewGroups(), want) {
		t.Errorf("default view groups %+v, want %+v", c.ViewGroups(), want)
	}
	bad := []struct {
		name string
		set  string
		more []string
		want []string
	}{
		{"not a list", "augment.crops=32", nil, []string{"augment.crops", "want a list such as [{size: 96"}},
		{"item not a mapping", "augment.crops=[32]", nil, []string{"augment.crops", "item 0", "want a mapping"}},
		{"unknown field", "augment.crops=[{size: 32, cuont: 2, scale: [0.2, 1]}]", nil, []string{"augment.crops", `unknown key "cuont"`, "size, count, scale"}},
		{"field of wrong type", "augment.crops=[{size: big, count: 2, scale: [0.2, 1]}]", nil, []string{"augment.crops", "size: want an integer"}},
		{"no scale", "augment.crops=[{size: 32, count: 2}]", nil, []string{"augment.crops", "group 1: scale [0, 0]"}},
		{"global views at another size", "augment.crops=[{size: 48, count: 2, scale: [0.2, 1]}]", nil, []string{"augment.crops", "first group holds the global views", "data.image_size (32 px)"}},
		{"one global view", "augment.crops=[{size: 32, count: 1, scale: [0.2, 1]}, {size: 16, count: 4, scale: [0.05, 0.2]}]", nil, []string{"augment.crops", "at least 2"}},
		{"too small", "augment.crops=[{size: 32, count: 2, scale: [0.2, 1]}, {size: 4, count: 4, scale: [0.05, 0.2]}]", nil, []string{"augment.crops", "group 2: size 4"}},
		{"too large", "augment.crops=[{size: 32, count: 2, scale: [0.2, 1]}, {size: 4096, count: 2, scale: [0.05, 0.2]}]", nil, []string{"augment.crops", "group 2: size 4096 must be in [8, 2048]"}},
		{"too many views", "augment.crops=[{size: 32, count: 2, scale: [0.2, 1]}, {size: 16, count: 15, scale: [0.05, 0.2]}]", nil, []string{"augment.crops", "17 views per image"}},
		{"multi-crop for VICReg", "augment.crops=[{size: 32, count: 2, scale: [0.2, 1]}, {size: 16, count: 2, scale: [0.05, 0.2]}]", []string{"method.name=vicreg"},
			[]string{"augment.crops", "VICReg's loss is defined on two views"}},
		{"three views for Barlow", "augment.crops=[{size: 32, count: 3, scale: [0.2, 1]}]", []string{"method.name=barlow"},
			[]string{"augment.crops", "Barlow Twins's loss is defined on two views"}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(Sources{Env: []string{}, Sets: append([]string{tt.set}, tt.more...)})
			assertErrorLine(t, err, tt.want)
		})
	}
}
