package sagemaker

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/natssl/natssl/internal/regfile"
)

// maxInputBytes bounds each of the job's JSON files (a few kilobytes each).
const maxInputBytes = 16 << 20

// readHyperparameters reads hyperparameters.json: an object whose values SageMaker always
// writes as JSON strings. SageMaker's own keys (sagemaker_program, sagemaker_region, ...) are
// not natssl config and are dropped; every other key goes to configs.Load, which names the file
// when a key or value is refused.
func readHyperparameters(path string) (map[string]string, error) {
	data, err := regfile.ReadFile(path, maxInputBytes)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sagemaker: read hyperparameters: %w", err)
	}
	return parseHyperparameters(data, path)
}

func parseHyperparameters(data []byte, path string) (map[string]string, error) {
	var raw map[string]json.RawMessage
	if err := unmarshal(data, &raw, path); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(raw))
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if strings.HasPrefix(k, "sagemaker_") {
			continue
		}
		var s string
		if err := json.Unmarshal(raw[k], &s); err != nil {
			// SageMaker itself only writes strings; a hand-written file may hold numbers or
			// booleans, which mean what their text says.
			var v any
			if json.Unmarshal(raw[k], &v) != nil {
				return nil, fmt.Errorf("sagemaker: %s: hyperparameter %q: not a JSON value", path, k)
			}
			switch v.(type) {
			case float64, bool:
				s = string(bytes.TrimSpace(raw[k]))
			default:
				return nil, fmt.Errorf("sagemaker: %s: hyperparameter %q = %s: want a string such as \"0.3\"", path, k, bytes.TrimSpace(raw[k]))
			}
		}
		out[k] = s
	}
	return out, nil
}

// resourceConfig is resourceconfig.json: the hosts, and the network interface the hosts
// reach each other on.
type resourceConfig struct {
	CurrentHost      string   `json:"current_host"`
	Hosts            []string `json:"hosts"`
	NetworkInterface string   `json:"network_interface_name"`
}

func readResourceConfig(path string) (resourceConfig, error) {
	data, err := regfile.ReadFile(path, maxInputBytes)
	if errors.Is(err, os.ErrNotExist) {
		return resourceConfig{CurrentHost: "algo-1", Hosts: []string{"algo-1"}}, nil
	}
	if err != nil {
		return resourceConfig{}, fmt.Errorf("sagemaker: read resource config: %w", err)
	}
	return parseResourceConfig(data, path)
}

// parseResourceConfig checks resourceconfig.json and sorts its hosts: the first of them
// leads a job of several.
func parseResourceConfig(data []byte, path string) (resourceConfig, error) {
	var rc resourceConfig
	if err := unmarshal(data, &rc, path); err != nil {
		return resourceConfig{}, err
	}
	switch {
	case rc.CurrentHost == "":
		return resourceConfig{}, fmt.Errorf("sagemaker: %s: current_host is missing or empty", path)
	case len(rc.Hosts) == 0:
		return resourceConfig{}, fmt.Errorf("sagemaker: %s: hosts is missing or empty", path)
	case !slices.Contains(rc.Hosts, rc.CurrentHost):
		return resourceConfig{}, fmt.Errorf("sagemaker: %s: current_host %q is not one of hosts %q", path, rc.CurrentHost, rc.Hosts)
	}
	seen := map[string]bool{}
	for _, h := range rc.Hosts {
		if seen[h] {
			return resourceConfig{}, fmt.Errorf("sagemaker: %s: host %q listed twice in hosts", path, h)
		}
		seen[h] = true
	}
	rc.Hosts = slices.Sorted(slices.Values(rc.Hosts))
	return rc, nil
}

// channelConfig is one entry of inputdataconfig.json.
type channelConfig struct {
	TrainingInputMode  string `json:"TrainingInputMode"`
	S3DistributionType string `json:"S3DistributionType"`
}

func readInputDataConfig(path, dataDir string) (map[string]Channel, error) {
	data, err := regfile.ReadFile(path, maxInputBytes)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]Channel{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sagemaker: read input data config: %w", err)
	}
	return parseInputDataConfig(data, path, dataDir)
}

func parseInputDataConfig(data []byte, path, dataDir string) (map[string]Channel, error) {
	var raw map[string]channelConfig
	if err := unmarshal(data, &raw, path); err != nil {
		return nil, err
	}
	out := make(map[string]Channel, len(raw))
	for name, c := range raw {
		if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
			return nil, fmt.Errorf("sagemaker: %s: channel name %q is not a folder name", path, name)
		}
		mode := c.TrainingInputMode
		switch mode {
		case "":
			mode = "File"
		case "File", "FastFile":
		case "Pipe":
			return nil, fmt.Errorf("sagemaker: %s: channel %q uses Pipe mode: natssl reads files, so launch it with File or FastFile", path, name)
		default:
			return nil, fmt.Errorf("sagemaker: %s: channel %q: unknown TrainingInputMode %q (want File or FastFile)", path, name, mode)
		}
		dist := c.S3DistributionType
		if dist == "" {
			dist = "FullyReplicated"
		}
		out[name] = Channel{Name: name, Mode: mode, Distribution: dist, Dir: filepath.Join(dataDir, name)}
	}
	return out, nil
}

// unmarshal decodes one of SageMaker's JSON files, naming the file and line of a syntax error
// and the field of a type error.
func unmarshal(data []byte, v any, path string) error {
	err := json.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("sagemaker: %s:%d: not valid JSON: %w", path, lineOf(data, se.Offset), err)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		where := te.Field
		if where == "" {
			where = "top level"
		}
		return fmt.Errorf("sagemaker: %s:%d: %s: got a JSON %s, want %s", path, lineOf(data, te.Offset), where, te.Value, jsonKind(te.Type.Kind().String()))
	}
	return fmt.Errorf("sagemaker: %s: %w", path, err)
}

func jsonKind(goKind string) string {
	switch goKind {
	case "map", "struct":
		return "an object"
	case "slice", "array":
		return "an array"
	case "string":
		return "a string"
	}
	return goKind
}

// lineOf returns the 1-based line holding byte offset off.
func lineOf(data []byte, off int64) int {
	off = min(max(off, 0), int64(len(data)))
	return 1 + bytes.Count(data[:off], []byte("\n"))
}
