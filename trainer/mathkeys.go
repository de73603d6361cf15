package trainer

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/natssl/natssl/configs"
)

// mathPrefixes and mathKeys are the config keys that change what training computes: a
// resumed run with a different value would not continue the same optimisation. Paths
// (run.out_dir, run.db), logging, checkpointing and time limits are free to change.
var (
	mathPrefixes = []string{"model.", "augment.", "method."}
	mathKeys     = map[string]bool{
		"run.seed": true, "data.source": true, "data.root": true, "data.image_size": true,
		"data.batch_size": true, "data.shuffle_buffer": true,
		"train.steps": true, "train.epochs": true, "train.optimizer": true, "train.lr": true,
		"train.weight_decay": true, "train.momentum": true, "train.warmup_steps": true,
		"train.temperature": true,
	}
)

// introduced are math keys added after checkpoints were first written, with the value every
// run before them had: a checkpoint without the key resumes under that value.
var introduced = map[string]string{"method.name": "simclr", "augment.crops": "[]"}

// replicasKey stands for the number of replicas of the world: the entries of train.devices
// times the ranks (each replica normalises its own share of the batch, batch_size/replicas
// images). Which devices they are, and how the replicas are spread over processes, do not
// change the maths: 2 ranks of [cpu] train as 1 process of [cpu, cpu], bit for bit.
const replicasKey = "train.devices (replicas)"

// MathConfig returns the values of the keys that change the maths, for a run over ranks
// processes (1: one process).
func MathConfig(cfg *configs.Config, ranks int) map[string]string {
	out := map[string]string{replicasKey: strconv.Itoa(max(ranks, 1) * cfg.Replicas())}
	for _, kv := range cfg.Flatten() {
		if mathKeys[kv.Key] || hasAnyPrefix(kv.Key, mathPrefixes) {
			out[kv.Key] = kv.Value
		}
	}
	return out
}

func hasAnyPrefix(s string, ps []string) bool {
	for _, p := range ps {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// ConfigHash is the SHA-256 of MathConfig, in key order.
func ConfigHash(cfg *configs.Config, ranks int) string {
	m := MathConfig(cfg, ranks)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%s=%s\n", k, m[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// MathDiff names the keys whose values differ between a checkpoint and cfg run over ranks
// processes, as "key: checkpoint → now", sorted; empty when the maths is the same.
func MathDiff(h Header, cfg *configs.Config, ranks int) []string {
	now := MathConfig(cfg, ranks)
	seen := map[string]bool{}
	var diffs []string
	for k, v := range h.MathConfig {
		seen[k] = true
		if now[k] != v {
			diffs = append(diffs, fmt.Sprintf("%s: %s → %s", k, v, now[k]))
		}
	}
	for k, v := range now {
		if !seen[k] && introduced[k] != v {
			diffs = append(diffs, fmt.Sprintf("%s: (absent) → %s", k, v))
		}
	}
	sort.Strings(diffs)
	return diffs
}

// Config parses the configuration stored in the checkpoint.
func (c *Checkpoint) Config() (*configs.Config, error) {
	f, err := os.CreateTemp("", "natssl-ckpt-config-*.yaml")
	if err != nil {
		return nil, fmt.Errorf("trainer: config of %s: %w", c.Path, err)
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(c.Header.ConfigYAML); err != nil {
		f.Close()
		return nil, fmt.Errorf("trainer: config of %s: %w", c.Path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("trainer: config of %s: %w", c.Path, err)
	}
	cfg, err := configs.Load(configs.Sources{File: f.Name(), Env: []string{}})
	if err != nil {
		return nil, fmt.Errorf("trainer: config of %s: %w", c.Path, err)
	}
	return cfg, nil
}
