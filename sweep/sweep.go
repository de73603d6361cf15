package sweep

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/experiments"
)

// Spec is the design as the tracker keeps it with a sweep (the sweeps.spec column, JSON).
type Spec struct {
	Params   []string `json:"params"`           // the --param arguments
	Random   int      `json:"random,omitempty"` // 0: a grid
	Seeds    int      `json:"seeds"`
	Budget   string   `json:"budget,omitempty"` // --budget, when given
	Parallel int      `json:"parallel,omitempty"`
	Keys     []string `json:"keys"`    // the swept keys, in order
	Configs  int      `json:"configs"` // distinct configurations
}

// Sweep is a sweep stored in the tracker: its base config, design and trials.
type Sweep struct {
	*experiments.Sweep
	Spec Spec
	Base *configs.Config
}

// Create stores a plan as a new sweep and returns it. command is the command line, kept
// with it; parallel the number of trials run at once.
func Create(ctx context.Context, db *experiments.DB, p *Plan, command string, parallel int) (*Sweep, error) {
	yaml, err := p.Base.YAML()
	if err != nil {
		return nil, err
	}
	spec := Spec{Random: p.Design.Random, Seeds: p.Design.Seeds, Parallel: parallel, Keys: p.Keys, Configs: p.Configs}
	for _, prm := range p.Design.Params {
		spec.Params = append(spec.Params, prm.Raw)
	}
	if p.Design.Budget > 0 {
		spec.Budget = p.Design.Budget.String()
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("sweep: encode spec: %w", err)
	}
	id, err := db.CreateSweep(ctx, experiments.Sweep{Name: p.Base.Run.Name, ConfigYAML: string(yaml), Spec: string(b),
		Command: command, Trials: p.Trials})
	if err != nil {
		return nil, err
	}
	return Open(ctx, db, id)
}

// Open reads sweep id (or an unambiguous prefix) from the tracker.
func Open(ctx context.Context, db *experiments.DB, id string) (*Sweep, error) {
	full, err := db.ResolveSweep(ctx, id)
	if err != nil {
		return nil, err
	}
	es, err := db.GetSweep(ctx, full)
	if err != nil {
		return nil, err
	}
	s := &Sweep{Sweep: es}
	if err := json.Unmarshal([]byte(es.Spec), &s.Spec); err != nil {
		return nil, fmt.Errorf("sweep %s: spec: %w", full, err)
	}
	if s.Spec.Seeds <= 0 {
		s.Spec.Seeds = 1
	}
	if s.Base, err = s.load(nil); err != nil {
		return nil, err
	}
	return s, nil
}

// Short is the sweep's id as people read it: its first 8 digits.
func (s *Sweep) Short() string { return s.ID[:min(8, len(s.ID))] }

// Trial returns trial n (from 1).
func (s *Sweep) Trial(n int) (experiments.SweepTrial, error) {
	if n < 1 || n > len(s.Trials) {
		return experiments.SweepTrial{}, fmt.Errorf("sweep %s: no trial %d (it has %d)", s.Short(), n, len(s.Trials))
	}
	return s.Trials[n-1], nil
}

// Budget is each trial's time limit: the base config's train.time_limit (0: none).
func (s *Sweep) Budget() time.Duration { return s.Base.Train.TimeLimit.D() }

// Dir is where the sweep's trial logs go: <run.out_dir>/sweeps/<id>.
func (s *Sweep) Dir() string { return filepath.Join(s.Base.Run.OutDir, "sweeps", s.ID) }

// RunName is the run.name of trial n's runs: the base name, the sweep and the trial.
func (s *Sweep) RunName(n int) string {
	return fmt.Sprintf("%s-sw%s-t%d", s.Base.Run.Name, s.Short(), n)
}

// Tags are the tags of trial n's runs.
func (s *Sweep) Tags(n int) map[string]string {
	return map[string]string{experiments.TagSweep: s.ID, experiments.TagTrial: strconv.Itoa(n)}
}

// Config is trial n's config: the base config with the trial's values, seed and run name.
func (s *Sweep) Config(n int) (*configs.Config, error) {
	t, err := s.Trial(n)
	if err != nil {
		return nil, err
	}
	return s.load(append(trialSets(t), "run.name="+s.RunName(n)))
}

// load resolves the stored base config with sets, and nothing from the environment: a trial
// is what the tracker says, wherever it runs.
func (s *Sweep) load(sets []string) (*configs.Config, error) {
	f, err := os.CreateTemp("", "natssl-sweep-"+s.Short()+"-*.yaml")
	if err != nil {
		return nil, fmt.Errorf("sweep %s: config: %w", s.Short(), err)
	}
	defer os.Remove(f.Name())
	_, err = f.WriteString(s.ConfigYAML)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("sweep %s: config: %w", s.Short(), err)
	}
	cfg, err := configs.Load(configs.Sources{File: f.Name(), Env: []string{}, Sets: sets})
	if err != nil {
		return nil, fmt.Errorf("sweep %s: the stored config: %w", s.Short(), err)
	}
	return cfg, nil
}

// Describe says what the sweep searches, in one line: "random search of 12 configurations × 2
// seeds = 24 trials over train.temperature, model.width".
func (s *Sweep) Describe() string {
	return describe(s.Spec.Random > 0, s.Spec.Configs, s.Spec.Seeds, len(s.Trials), s.Spec.Keys)
}

// Describe says what the plan searches, as Sweep.Describe does.
func (p *Plan) Describe() string {
	return describe(p.Design.Random > 0, p.Configs, p.Design.Seeds, len(p.Trials), p.Keys)
}

func describe(random bool, configs, seeds, trials int, keys []string) string {
	kind := "grid of " + count(configs, "configuration")
	if random {
		kind = "random search of " + count(configs, "configuration")
	}
	if seeds > 1 {
		kind += fmt.Sprintf(" × %d seeds", seeds)
	}
	return fmt.Sprintf("%s = %s over %s", kind, count(trials, "trial"), strings.Join(keys, ", "))
}

// count writes n things: "1 trial", "12 trials".
func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// Values writes a trial's values as key=value pairs, for progress lines and the report.
func Values(t experiments.SweepTrial) string {
	parts := make([]string, len(t.Values))
	for i, kv := range t.Values {
		parts[i] = kv.Key + "=" + kv.Value
	}
	return strings.Join(parts, " ")
}
