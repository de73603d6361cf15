package sweep

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/internal/redact"
)

// Design is what a sweep was asked to search.
type Design struct {
	Params []Param
	// Random is the number of configurations drawn at random; 0 runs the full grid.
	Random int
	// Seeds is how many runs each configuration gets, with run.seed, run.seed+1, ...; 0 means 1.
	Seeds int
	// Budget is every trial's train.time_limit; 0 keeps the config's.
	Budget time.Duration
}

// Plan is a checked design: the base config every trial starts from and the trials.
type Plan struct {
	Design  Design
	Base    *configs.Config // the config with the budget applied
	Keys    []string        // the swept keys, in the order given
	Configs int             // distinct configurations; each has Design.Seeds trials
	Trials  []experiments.SweepTrial
}

// maxTrials bounds a sweep: more trials than this are a mistake in the design, not a plan.
const maxTrials = 10000

// reserved are keys a sweep sets itself or that all trials must share.
var reserved = map[string]string{
	"run.name":        "each trial's run is named after the sweep and the trial",
	"run.db":          "every trial must be recorded in the sweep's tracker",
	"eval.val_csv":    "every trial is judged on the same validation suite",
	"eval.val_images": "every trial is judged on the same validation suite",
	// A trial's monitor follows its validation suite (watchSets): every trial is watched alike.
	"eval.monitor_newt_csv":    "every trial is watched on the same suite",
	"eval.monitor_newt_images": "every trial is watched on the same suite",
}

// NewPlan checks a design against the configuration src resolves to and expands it into
// trials, before anything runs: every key must be one --set accepts, and every value (each
// listed value, each end of a range) and every trial's whole config must pass the config's
// validation. All problems are returned at once as *configs.Errors, each naming the key, the
// value and the --param it came from.
func NewPlan(src configs.Sources, d Design) (*Plan, error) {
	if d.Seeds <= 0 {
		d.Seeds = 1
	}
	if len(d.Params) == 0 {
		return nil, usage("sweep: nothing to sweep: give --param key=value,value,... (repeatable)")
	}
	if d.Random < 0 {
		return nil, usage("sweep: --random %d: want the number of configurations to draw", d.Random)
	}
	if d.Budget < 0 {
		return nil, usage("sweep: --budget %s: want a duration such as 10m", d.Budget)
	}
	base := src
	base.Sets = append([]string(nil), src.Sets...)
	if d.Budget > 0 {
		base.Sets = append(base.Sets, "train.time_limit="+d.Budget.String())
	}
	cfg, err := configs.Load(base)
	if err != nil {
		return nil, err
	}
	if w := watchSets(cfg); w != nil {
		base.Sets = append(base.Sets, w...)
		if cfg, err = configs.Load(base); err != nil {
			return nil, err
		}
	}
	p := &Plan{Design: d, Base: cfg}
	var errs errorList
	// A sweep runs its trials from the config it stores, and nothing stored keeps a URL's
	// credentials: a config that needs them could not run its trials.
	for _, kv := range cfg.FlattenWithCredentials() {
		if redact.String(kv.Value) != kv.Value {
			errs.put(&configs.FieldError{Origin: cfg.Origin(kv.Key), Key: kv.Key, Value: kv.Value, Reason: credentialsReason})
		}
	}
	owner := map[string]string{} // key → the --param that sweeps it
	for _, prm := range d.Params {
		for _, k := range prm.Keys {
			if o, ok := owner[k]; ok {
				errs.add(prm.Raw, k, "", fmt.Sprintf("already swept by --param %s", o))
				continue
			}
			owner[k] = prm.Raw
			p.Keys = append(p.Keys, k)
			switch {
			case reserved[k] != "":
				errs.add(prm.Raw, k, "", "cannot be swept: "+reserved[k])
			case k == "run.seed" && d.Seeds > 1:
				errs.add(prm.Raw, k, "", "cannot be swept together with --seeds (which sets run.seed)")
			case k == "train.time_limit" && d.Budget > 0:
				errs.add(prm.Raw, k, "", "cannot be swept together with --budget (which sets it)")
			}
			if prm.Range != nil && configs.IsKey(k) && kindOf(k) == kindOther {
				errs.add(prm.Raw, k, "", "a range needs a numeric key; list the values instead")
			}
		}
		if prm.Range != nil && d.Random == 0 {
			errs.add(prm.Raw, "", "", "a range can only be drawn from: add --random N (or list the values for a grid)")
		}
	}
	// Each value on its own, so that a bad one is named even when it is in every trial.
	for _, prm := range d.Params {
		for _, v := range prm.choices() {
			for i, x := range v {
				if redact.String(x) != x {
					errs.add(prm.Raw, prm.Keys[min(i, len(prm.Keys)-1)], x, credentialsReason)
				}
			}
			sets := prm.sets(v)
			origins := map[string]string{}
			for _, s := range sets {
				origins[s] = prm.Raw
			}
			errs.load(base, sets, origins)
		}
	}
	if errs.any() {
		return nil, errs.err()
	}
	if p.Trials, p.Configs, err = expand(d, cfg.Run.Seed); err != nil {
		return nil, err
	}
	// Every configuration whole: relations between keys (a batch that does not divide over
	// the devices, say) show only in combination. Its seeds change nothing that is checked.
	for _, t := range p.Trials {
		if (t.N-1)%d.Seeds != 0 {
			continue
		}
		origins := map[string]string{}
		for _, kv := range t.Values {
			origins[kv.Key+"="+kv.Value] = owner[kv.Key]
		}
		errs.load(base, trialSets(t), origins)
	}
	if errs.any() {
		return nil, errs.err()
	}
	if err := checkSuites(cfg); err != nil {
		return nil, err
	}
	return p, nil
}

// choices are the values a parameter's keys take, one per key: the listed ones, or a range's
// two ends.
func (p Param) choices() [][]string {
	if p.Range == nil {
		return p.Values
	}
	var out [][]string
	for _, x := range []float64{p.Range.Lo, p.Range.Hi} {
		v := make([]string, len(p.Keys))
		for i, k := range p.Keys {
			v[i] = strconv.FormatFloat(x, 'g', -1, 64)
			if kindOf(k) == kindInt {
				v[i] = strconv.FormatInt(int64(math.Round(x)), 10)
			}
		}
		out = append(out, v)
	}
	return out
}

// sets are the --set overrides that give the parameter's keys the values v.
func (p Param) sets(v []string) []string {
	out := make([]string, len(p.Keys))
	for i, k := range p.Keys {
		out[i] = k + "=" + v[i]
	}
	return out
}

// trialSets are the overrides of a trial: the swept values and its seed.
func trialSets(t experiments.SweepTrial) []string {
	out := make([]string, 0, len(t.Values)+1)
	for _, kv := range t.Values {
		out = append(out, kv.Key+"="+kv.Value)
	}
	return append(out, "run.seed="+strconv.FormatInt(t.Seed, 10))
}

// expand turns the design into trials: the grid of every combination of listed values (the
// first parameter varying slowest), or Random configurations drawn with a generator seeded by
// seed, no two alike; each configuration then once per seed.
func expand(d Design, seed int64) ([]experiments.SweepTrial, int, error) {
	var cfgs [][]choice
	if d.Random == 0 {
		n := 1
		for _, p := range d.Params {
			n *= len(p.Values)
			if n*d.Seeds > maxTrials {
				return nil, 0, usage("sweep: the grid has more than %d trials; draw some with --random N", maxTrials)
			}
		}
		cfgs = grid(d.Params)
	} else {
		if d.Random*d.Seeds > maxTrials {
			return nil, 0, usage("sweep: --random %d × --seeds %d is more than %d trials", d.Random, d.Seeds, maxTrials)
		}
		var err error
		if cfgs, err = draw(d.Params, d.Random, seed); err != nil {
			return nil, 0, err
		}
	}
	var trials []experiments.SweepTrial
	for c, vals := range cfgs {
		values := flatten(d.Params, vals)
		for k := 0; k < d.Seeds; k++ {
			s := seed + int64(k)
			for _, kv := range values {
				if kv.Key == "run.seed" {
					s, _ = strconv.ParseInt(kv.Value, 10, 64)
				}
			}
			trials = append(trials, experiments.SweepTrial{N: len(trials) + 1, Config: c + 1, Seed: s, Values: values})
		}
	}
	return trials, len(cfgs), nil
}

// choice is one parameter's value in a configuration: one string per key.
type choice []string

// grid is every combination of the listed values, the first parameter varying slowest.
func grid(params []Param) [][]choice {
	out := [][]choice{nil}
	for _, p := range params {
		var next [][]choice
		for _, prefix := range out {
			for _, v := range p.Values {
				next = append(next, append(append([]choice(nil), prefix...), v))
			}
		}
		out = next
	}
	return out
}

// draw draws n distinct configurations: each parameter independently, a listed value
// uniformly or a number from its range.
func draw(params []Param, n int, seed int64) ([][]choice, error) {
	distinct := 1
	for _, p := range params {
		if p.Range != nil {
			distinct = -1
			break
		}
		distinct *= len(p.Values)
		if distinct > n {
			break
		}
	}
	if distinct >= 0 && distinct < n {
		return nil, usage("sweep: --random %d: the listed values make only %d distinct configurations (drop --random to run them all)", n, distinct)
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x73776565)) // "swee"
	seen := map[string]bool{}
	var out [][]choice
	for attempts := 0; len(out) < n; attempts++ {
		if attempts > 1000*n {
			return nil, fmt.Errorf("sweep: --random %d: drew only %d distinct configurations; widen the ranges", n, len(out))
		}
		cfg := make([]choice, len(params))
		for i, p := range params {
			if p.Range == nil {
				cfg[i] = p.Values[rng.IntN(len(p.Values))]
				continue
			}
			u := rng.Float64()
			v := make(choice, len(p.Keys))
			for k, key := range p.Keys {
				v[k] = p.Range.draw(u, kindOf(key))
			}
			cfg[i] = v
		}
		key := fmt.Sprint(cfg)
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, cfg)
	}
	return out, nil
}

// flatten lists a configuration's values key by key, in the parameters' order.
func flatten(params []Param, vals []choice) []configs.KeyValue {
	var out []configs.KeyValue
	for i, p := range params {
		for k, key := range p.Keys {
			out = append(out, configs.KeyValue{Key: key, Value: vals[i][k]})
		}
	}
	return out
}

// credentialsReason refuses a value with credentials in a URL (user:password@, a signature).
const credentialsReason = "carries credentials in a URL, which a sweep cannot keep: it stores its config to run the trials from, and the tracker masks credentials; give them to the S3 client another way (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile)"

// errorList gathers the problems of a design, each once, as config errors.
type errorList struct {
	errs configs.Errors
	seen map[string]bool
}

func (l *errorList) add(param, key, value, reason string) {
	l.put(&configs.FieldError{Origin: "--param " + param, Key: key, Value: value, Reason: reason})
}

func (l *errorList) put(e *configs.FieldError) {
	if l.seen == nil {
		l.seen = map[string]bool{}
	}
	if msg := e.Error(); !l.seen[msg] {
		l.seen[msg] = true
		l.errs = append(l.errs, e)
	}
}

// load resolves src with sets added and keeps its problems; a problem whose origin is one of
// the sets names the --param that made it (origins: set → --param) instead of --set.
func (l *errorList) load(src configs.Sources, sets []string, origins map[string]string) {
	src.Sets = append(append([]string(nil), src.Sets...), sets...)
	_, err := configs.Load(src)
	var ce *configs.Errors
	if !errors.As(err, &ce) {
		if err != nil {
			l.put(&configs.FieldError{Reason: err.Error()})
		}
		return
	}
	for _, e := range *ce {
		if raw, ok := origins[strings.TrimPrefix(e.Origin, "--set ")]; ok && strings.HasPrefix(e.Origin, "--set ") {
			c := *e
			c.Origin = "--param " + raw
			e = &c
		}
		l.put(e)
	}
}

func (l *errorList) any() bool { return len(l.errs) > 0 }

func (l *errorList) err() error {
	errs := l.errs
	return &errs
}

// UsageError is a design that cannot run as given: a mistake in the command line rather than
// in the config. The CLI exits with code 2 for it, as for a config error.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usage(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}
