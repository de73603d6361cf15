package sagemaker

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// DefaultBase is where SageMaker mounts a training job's files.
const DefaultBase = "/opt/ml"

// BaseEnv names the environment variable that moves the base, as SageMaker's own toolkits do.
const BaseEnv = "SAGEMAKER_BASE_DIR"

// ErrNotAJob is returned by Open when the base holds no input/config folder.
var ErrNotAJob = errors.New("sagemaker: not inside a training job")

// Job is a SageMaker training job as seen from inside its container.
type Job struct {
	Base string // "/opt/ml", or SAGEMAKER_BASE_DIR

	// Hyperparameters are the config overrides from hyperparameters.json, SageMaker's own
	// sagemaker_* entries removed.
	Hyperparameters map[string]string

	CurrentHost string   // "algo-1"
	Hosts       []string // every host of the job, sorted (the same on every host)
	// NetworkInterface is the interface the hosts reach each other on ("eth0"); "" when
	// resourceconfig.json does not say.
	NetworkInterface string

	// Channels are the data channels of inputdataconfig.json by name.
	Channels map[string]Channel
}

// Channel is one data channel: SageMaker copies (File) or mounts (FastFile) its S3 objects
// under Dir.
type Channel struct {
	Name         string
	Mode         string // "File" or "FastFile"; "Pipe" is refused by Open
	Distribution string // "FullyReplicated" or "ShardedByS3Key"
	Dir          string // <base>/input/data/<name>
}

// Detect reports whether natssl runs inside a training job and where the job's base is.
// getenv is os.Getenv in the binary; tests pass their own.
func Detect(getenv func(string) string) (base string, ok bool) {
	if b := getenv(BaseEnv); b != "" {
		return b, true
	}
	if fi, err := os.Stat(filepath.Join(DefaultBase, "input", "config")); err == nil && fi.IsDir() {
		return DefaultBase, true
	}
	return "", false
}

// Open reads the job's configuration files under base. Missing resourceconfig.json and
// inputdataconfig.json mean one host and no channels (SageMaker always writes them; local
// runs of the container may not); a missing hyperparameters.json means no overrides.
func Open(base string) (*Job, error) {
	if fi, err := os.Stat(filepath.Join(base, "input", "config")); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("%w: no folder %s", ErrNotAJob, filepath.Join(base, "input", "config"))
	}
	j := &Job{Base: base, Hyperparameters: map[string]string{}, Channels: map[string]Channel{}}
	var err error
	if j.Hyperparameters, err = readHyperparameters(j.HyperparametersFile()); err != nil {
		return nil, err
	}
	rc, err := readResourceConfig(j.configFile("resourceconfig.json"))
	if err != nil {
		return nil, err
	}
	j.CurrentHost, j.Hosts, j.NetworkInterface = rc.CurrentHost, rc.Hosts, rc.NetworkInterface
	if j.Channels, err = readInputDataConfig(j.configFile("inputdataconfig.json"), filepath.Join(base, "input", "data")); err != nil {
		return nil, err
	}
	return j, nil
}

func (j *Job) configFile(name string) string { return filepath.Join(j.Base, "input", "config", name) }

// HyperparametersFile is the path of hyperparameters.json, for messages about its values.
func (j *Job) HyperparametersFile() string { return j.configFile("hyperparameters.json") }

// CheckpointDir is the folder SageMaker syncs with CheckpointConfig's S3 URI and restores on
// a restart: checkpoints and the tracker database live here.
func (j *Job) CheckpointDir() string { return filepath.Join(j.Base, "checkpoints") }

// RunDir is where this host keeps its checkpoints and tracker database: the checkpoint folder,
// or with several hosts a subfolder named after the host, since every host's checkpoint folder
// is synced to the same S3 URI and restored whole on each.
func (j *Job) RunDir() string {
	if j.HostCount() > 1 {
		return filepath.Join(j.CheckpointDir(), j.CurrentHost)
	}
	return j.CheckpointDir()
}

// ModelDir is the folder SageMaker uploads to the output path when the job ends.
func (j *Job) ModelDir() string { return filepath.Join(j.Base, "model") }

// FailurePath is the file whose first 1,024 characters become the job's FailureReason.
func (j *Job) FailurePath() string { return filepath.Join(j.Base, "output", "failure") }

// Rank is this host's index among the job's hosts: the loader's host-level Shard.
func (j *Job) Rank() int {
	for i, h := range j.Hosts {
		if h == j.CurrentHost {
			return i
		}
	}
	return 0
}

// HostCount is the number of hosts: the loader's Shards.
func (j *Job) HostCount() int { return max(1, len(j.Hosts)) }

// Shard returns the host-level shard of the training data this host reads: (Rank, HostCount),
// or (0, 1) when SageMaker already splits the train channel between hosts (ShardedByS3Key).
func (j *Job) Shard() (shard, shards int) {
	if c, ok := j.Channels["train"]; ok && c.Distribution == "ShardedByS3Key" {
		return 0, 1
	}
	return j.Rank(), j.HostCount()
}

// Leader reports whether this host leads the job: the first of the sorted hosts, which starts
// the MPI job over all of them and whose rank 0 writes the model artefacts.
func (j *Job) Leader() bool { return j.Rank() == 0 }

// ChannelNames returns the names of the job's channels, sorted.
func (j *Job) ChannelNames() []string {
	names := make([]string, 0, len(j.Channels))
	for n := range j.Channels {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
