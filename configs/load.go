package configs

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/viper"
	"gopkg.in/yaml.v3"

	"github.com/natssl/natssl/internal/regfile"
)

//go:embed default.yaml fmnist.yaml smoke.yaml inat21.yaml
var embedded embed.FS

// Presets returns the names of the embedded configs that --config accepts by name.
func Presets() []string {
	ents, _ := embedded.ReadDir(".")
	var out []string
	for _, e := range ents {
		out = append(out, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(out)
	return out
}

// Preset returns the YAML of an embedded config by name ("smoke", "inat21", ...).
func Preset(name string) ([]byte, bool) {
	b, err := embedded.ReadFile(name + ".yaml")
	return b, err == nil
}

// Sources are the layers of one configuration, lowest precedence first after the embedded
// defaults: a config file (or preset name), the NATSSL_* environment, SageMaker
// hyperparameters, and --set overrides.
type Sources struct {
	File string // a path, or an embedded preset's name; "" for the defaults alone
	// Env is the environment to read NATSSL_* variables from ("K=V" entries); nil means
	// os.Environ().
	Env []string
	// Hyperparameters are dotted keys with string values, as SageMaker passes them.
	Hyperparameters map[string]string
	// HyperparametersFile names where Hyperparameters came from, for messages.
	HyperparametersFile string
	Sets                []string // "key=value" overrides, applied in order
	// CacheDir is where files embedded with a preset (the smoke preset's images) are written
	// out for reading; "" means natssl's folder in the user's cache (os.UserCacheDir).
	CacheDir string
}

// Default returns the embedded default configuration.
func Default() *Config {
	c, err := Load(Sources{Env: []string{}})
	if err != nil {
		panic("configs: embedded default.yaml is invalid: " + err.Error())
	}
	return c
}

// Load resolves the layers of src into a validated Config. Every problem found (unknown keys,
// wrong types, out-of-range values) is reported at once, as *Errors, one line each, naming the
// key, the value and where it came from.
func Load(src Sources) (*Config, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	def, _ := embedded.ReadFile("default.yaml")
	if err := v.ReadConfig(bytes.NewReader(def)); err != nil {
		return nil, fmt.Errorf("configs: embedded default.yaml: %w", err)
	}
	origins := map[string]string{}
	for _, k := range Keys() {
		origins[k] = "default"
	}
	var errs Errors
	var warnings []string

	if src.File != "" {
		data, name, err := readFile(src.File)
		if err != nil {
			return nil, err
		}
		lines, ferrs, err := scanYAML(data, name)
		if err != nil {
			return nil, err
		}
		errs = append(errs, ferrs...)
		if err := v.MergeConfig(bytes.NewReader(data)); err != nil {
			return nil, &Errors{{Origin: name, Reason: fmt.Sprintf("not valid YAML: %v", err)}}
		}
		for k, line := range lines {
			origins[k] = fmt.Sprintf("%s:%d", name, line)
		}
	}

	env := src.Env
	if env == nil {
		env = os.Environ()
	}
	known := map[string]string{}
	for _, k := range Keys() {
		known[envName(k)] = k
	}
	for _, kv := range env {
		name, val, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "NATSSL_") || val == "" {
			continue
		}
		k, ok := known[name]
		if !ok && slices.Contains(OwnEnv, name) {
			continue // natssl's, read where it is used
		}
		if !ok {
			// A variable of a section natssl has is a misspelt key; any other NATSSL_* variable
			// (a script's own, such as NATSSL_PHOTOS) is not natssl's to refuse.
			if section := envSection(name); section != "" {
				errs = append(errs, unknownEnv(name, val, section))
			} else {
				warnings = append(warnings, fmt.Sprintf("env %s: not a config variable (no section %q; the sections are %s), ignored",
					name, strings.ToLower(strings.SplitN(strings.TrimPrefix(name, "NATSSL_"), "_", 2)[0]), strings.Join(Sections(), ", ")))
			}
			continue
		}
		v.Set(k, val)
		origins[k] = "env " + name
	}

	hpKeys := make([]string, 0, len(src.Hyperparameters))
	for k := range src.Hyperparameters {
		hpKeys = append(hpKeys, k)
	}
	sort.Strings(hpKeys)
	hpOrigin := func(k string) string {
		if src.HyperparametersFile == "" {
			return fmt.Sprintf("hyperparameter %q", k)
		}
		return fmt.Sprintf("%s (hyperparameter %q)", src.HyperparametersFile, k)
	}
	for _, k := range hpKeys {
		if !IsKey(k) {
			errs = append(errs, unknownKey(k, src.Hyperparameters[k], hpOrigin(k)))
			continue
		}
		v.Set(k, src.Hyperparameters[k])
		origins[k] = hpOrigin(k)
	}

	for _, s := range src.Sets {
		k, val, ok := strings.Cut(s, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			errs = append(errs, &FieldError{Origin: "--set " + s, Reason: "--set needs key=value, such as --set train.lr=0.1"})
			continue
		}
		if !IsKey(k) {
			errs = append(errs, unknownKey(k, val, "--set "+s))
			continue
		}
		v.Set(k, val)
		origins[k] = "--set " + s
	}

	c := &Config{origins: origins, warnings: warnings}
	for _, k := range Keys() {
		raw := v.Get(k)
		if err := c.set(k, raw); err != nil {
			errs = append(errs, &FieldError{Key: k, Value: fmt.Sprint(raw), Reason: err.Error(), Origin: origins[k]})
		}
	}
	cacheDir := src.CacheDir
	if cacheDir == "" {
		cacheDir = defaultCacheDir()
	}
	if e := c.resolvePresetFiles(cacheDir); e != nil {
		errs = append(errs, e)
	}
	// Range checks run even when some values failed to convert, so that one run of
	// `natssl config validate` reports every problem; a key already in error is not reported twice.
	failed := map[string]bool{}
	for _, e := range errs {
		failed[e.Key] = true
	}
	if err := c.Validate(); err != nil {
		for _, e := range *err.(*Errors) {
			if !failed[e.Key] {
				errs = append(errs, e)
			}
		}
	}
	if len(errs) > 0 {
		return nil, &errs
	}
	return c, nil
}

// OwnEnv are natssl's own environment variables that set no config key: loading neither
// refuses nor warns about them. NATSSL_CUDA_LIB_DIR is the folder trainer/cuda looks for the
// CUDA libraries in first.
var OwnEnv = []string{"NATSSL_CUDA_LIB_DIR"}

// envSection is the section (run, data, ...) whose prefix the NATSSL_* variable name has; ""
// when it has none.
func envSection(name string) string {
	for _, s := range Sections() {
		if strings.HasPrefix(name, "NATSSL_"+strings.ToUpper(s)+"_") {
			return s
		}
	}
	return ""
}

// unknownEnv refuses a NATSSL_<SECTION>_* variable that sets no key, naming the nearest one.
func unknownEnv(name, val, section string) *FieldError {
	reason := fmt.Sprintf("unknown environment variable: section %s has no such key", section)
	rest := strings.ToLower(strings.TrimPrefix(name, "NATSSL_"+strings.ToUpper(section)+"_"))
	k := suggest(section + "." + rest)
	if k == "" || !strings.HasPrefix(k, section+".") {
		best := 4
		k = ""
		for _, key := range Keys() {
			if d := editDistance(name, envName(key)); d < best {
				k, best = key, d
			}
		}
	}
	if k != "" {
		reason += fmt.Sprintf(" (did you mean %s, which sets %s?)", envName(k), k)
	}
	return &FieldError{Origin: "env " + name, Value: val, Reason: reason}
}

// Warnings are what loading noticed but did not refuse: NATSSL_* variables that are not
// config variables. The CLI prints them.
func (c *Config) Warnings() []string { return c.warnings }

// Sections returns the top-level sections of a config (run, data, ...), sorted.
func Sections() []string {
	fields()
	var out []string
	for s := range sections {
		if !strings.Contains(s, ".") {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

func unknownKey(k, val, origin string) *FieldError {
	reason := "unknown key"
	if s := suggest(k); s != "" {
		reason += " (did you mean " + s + "?)"
	}
	return &FieldError{Key: k, Value: val, Reason: reason, Origin: origin}
}

// MaxConfigBytes bounds a config file: a config is a few kilobytes, and a path such as
// /dev/zero must not be read without end.
const MaxConfigBytes = 4 << 20

// readFile reads a config file (a regular file of at most MaxConfigBytes), or an embedded
// preset when no such file exists.
func readFile(name string) ([]byte, string, error) {
	data, err := regfile.ReadFile(name, MaxConfigBytes)
	if err == nil {
		return data, name, nil
	}
	// A bare name that is not a readable file (absent, or a folder such as the repository's
	// fmnist/ package) names an embedded preset.
	if st, serr := os.Stat(name); (errors.Is(err, os.ErrNotExist) || serr == nil && st.IsDir()) && !strings.ContainsRune(name, filepath.Separator) {
		if b, ok := Preset(strings.TrimSuffix(name, ".yaml")); ok {
			return b, "preset " + strings.TrimSuffix(name, ".yaml"), nil
		}
		return nil, "", &Errors{{Origin: name, Reason: fmt.Sprintf("no such config file, and no embedded preset of that name (presets: %s)", strings.Join(Presets(), ", "))}}
	}
	return nil, "", &Errors{{Origin: name, Reason: fmt.Sprintf("cannot read config file: %v", errors.Unwrap(err))}}
}

// scanYAML walks a config file's YAML tree: it returns the line of every leaf key it sets and
// an error for every key that is not part of Config.
func scanYAML(data []byte, name string) (map[string]int, Errors, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, &Errors{{Origin: name, Reason: fmt.Sprintf("not valid YAML: %v", err)}}
	}
	lines := map[string]int{}
	var errs Errors
	if len(doc.Content) == 0 {
		return lines, nil, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, nil, &Errors{{Origin: fmt.Sprintf("%s:%d", name, root.Line), Reason: "a config file must be a mapping of sections (run, data, augment, model, method, train, eval, sagemaker)"}}
	}
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		for i := 0; i+1 < len(n.Content); i += 2 {
			kn, vn := n.Content[i], n.Content[i+1]
			key := kn.Value
			if prefix != "" {
				key = prefix + "." + kn.Value
			}
			where := fmt.Sprintf("%s:%d", name, kn.Line)
			switch {
			case isSection(key):
				if vn.Kind != yaml.MappingNode {
					errs = append(errs, &FieldError{Key: key, Value: vn.Value, Reason: "want a mapping of keys", Origin: where})
					continue
				}
				walk(vn, key)
			case IsKey(key):
				lines[key] = kn.Line
			default:
				errs = append(errs, unknownKey(key, vn.Value, where))
			}
		}
	}
	walk(root, "")
	return lines, errs, nil
}
