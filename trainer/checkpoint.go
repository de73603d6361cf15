package trainer

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/natssl/natssl/internal/regfile"
)

// FormatVersion is the checkpoint format this build writes and reads.
const FormatVersion = 1

// checkpointMagic opens every checkpoint file.
const checkpointMagic = "NATSSLCK"

// ErrCorruptCheckpoint is wrapped by every error about a checkpoint file that is truncated,
// fails its checksum, or does not parse.
var ErrCorruptCheckpoint = errors.New("trainer: corrupt checkpoint")

// ErrNoCheckpoint is wrapped by LatestCheckpoint's error when no file of the folder verifies.
var ErrNoCheckpoint = errors.New("trainer: no valid checkpoint")

// Position is how far the data stream had gone: Consumed samples of Epoch were delivered,
// by a world of World replicas; the other fields say which parts of the epoch the stream had
// skipped and taken, so that a resume with another world size can deal the rest (the
// loader's business). It has the JSON form of loader.Position; checkpoints written before
// the other fields existed read as a world of one.
type Position struct {
	Epoch        int    `json:"epoch"`
	Consumed     int64  `json:"consumed"`
	World        int    `json:"world,omitempty"`
	SkipShards   string `json:"skip_shards,omitempty"`
	SkipSamples  int64  `json:"skip_samples,omitempty"`
	TakenShards  string `json:"taken_shards,omitempty"`
	TakenSamples int64  `json:"taken_samples,omitempty"`
	Replaced     string `json:"replaced,omitempty"`
}

// Header is a checkpoint's metadata. The file is: the magic "NATSSLCK", the header length
// (uint32, little-endian), the header as JSON, the tensors as little-endian float32 in the
// order of Tensors, and the SHA-256 of everything before it.
type Header struct {
	Version    int    `json:"version"`
	RunID      string `json:"run_id"`
	ConfigHash string `json:"config_hash"` // over the keys that change the maths (MathKeys)
	ConfigYAML string `json:"config_yaml"` // the whole config the run was started with
	// MathConfig holds the values of MathKeys, to name what differs on resume.
	MathConfig map[string]string `json:"math_config"`
	Step       int64             `json:"step"`  // optimizer steps taken
	Epoch      int               `json:"epoch"` // epoch of the last batch trained on
	TotalSteps int64             `json:"total_steps"`
	// Position is where the data stream resumes. Together with the seed it is the whole
	// random state: augmentation and shuffling draw from streams derived from (seed, epoch,
	// sample index), and weight initialisation from (seed, parameter name).
	Position  Position       `json:"position"`
	Seed      int64          `json:"seed"`
	Optimizer OptimizerState `json:"optimizer"`
	Loss      float64        `json:"loss"`
	// Method is the method's scalar state (MoCo's queue pointer); nil for SimCLR and for
	// checkpoints written before methods.
	Method  *MethodState `json:"method,omitempty"`
	Tensors []TensorInfo `json:"tensors"`
}

// MethodState is a method's scalar state; its tensors are target/param/<name> (the target
// network of BYOL and MoCo) and moco/queue/<view> (MoCo's queue of each global view).
type MethodState struct {
	Name     string `json:"name"`
	QueuePtr int    `json:"queue_ptr,omitempty"`
}

// OptimizerState is the optimizer's scalar state; its buffers are tensors named opt/<slot>/<param>.
type OptimizerState struct {
	Kind        string  `json:"kind"`
	Steps       int64   `json:"steps"`
	Momentum    float64 `json:"momentum"`
	WeightDecay float64 `json:"weight_decay"`
}

// TensorInfo names one tensor of the file: param/<name>, bn/<layer>/mean, bn/<layer>/var,
// opt/<slot>/<param>, target/param/<name> or moco/queue/<view>.
type TensorInfo struct {
	Name  string `json:"name"`
	Shape []int  `json:"shape"`
}

// Checkpoint is a checkpoint read into memory.
type Checkpoint struct {
	Path    string
	SHA256  string
	Bytes   int64
	Header  Header
	Tensors map[string][]float32
}

// encodeCheckpoint serialises h and the tensors (in h.Tensors order) and returns the file's
// bytes with the checksum appended.
func encodeCheckpoint(h Header, tensors map[string][]float32) ([]byte, error) {
	hj, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("trainer: encode checkpoint header: %w", err)
	}
	n := len(checkpointMagic) + 4 + len(hj) + sha256.Size
	for _, t := range h.Tensors {
		n += 4 * len(tensors[t.Name])
	}
	buf := make([]byte, 0, n)
	buf = append(buf, checkpointMagic...)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(hj)))
	buf = append(buf, hj...)
	for _, t := range h.Tensors {
		want := 1
		for _, d := range t.Shape {
			want *= d
		}
		data := tensors[t.Name]
		if len(data) != want {
			panic(fmt.Sprintf("trainer: checkpoint tensor %s has %d values, shape %v", t.Name, len(data), t.Shape))
		}
		for _, v := range data {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		}
	}
	sum := sha256.Sum256(buf)
	return append(buf, sum[:]...), nil
}

// ReadCheckpoint reads and verifies a checkpoint file. A file that is truncated or fails its
// checksum gives an error wrapping ErrCorruptCheckpoint. Only a regular file is read, and only
// once its first bytes show a checkpoint: /dev/zero, a FIFO or a large file of something else
// is refused without being read.
func ReadCheckpoint(path string) (*Checkpoint, error) {
	f, err := regfile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("trainer: read checkpoint: %w", err)
	}
	defer f.Close()
	head := make([]byte, len(checkpointMagic))
	if n, _ := io.ReadFull(f, head); n < len(head) || string(head) != checkpointMagic {
		return nil, fmt.Errorf("%w: %s: not a natssl checkpoint (bad magic or too short)", ErrCorruptCheckpoint, path)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("trainer: read checkpoint: %w", err)
	}
	data, err := regfile.ReadAll(f, path, -1)
	if err != nil {
		return nil, fmt.Errorf("trainer: read checkpoint: %w", err)
	}
	return decodeCheckpoint(data, path)
}

// ParseCheckpoint verifies and parses a checkpoint's bytes read elsewhere (rank 0 reads the
// file and sends it to the other ranks of a run); path names it in messages and in the
// result.
func ParseCheckpoint(data []byte, path string) (*Checkpoint, error) {
	return decodeCheckpoint(data, path)
}

// decodeCheckpoint parses a checkpoint file's bytes; path is for messages.
func decodeCheckpoint(data []byte, path string) (*Checkpoint, error) {
	corrupt := func(why string) error {
		return fmt.Errorf("%w: %s: %s", ErrCorruptCheckpoint, path, why)
	}
	if len(data) < len(checkpointMagic)+4+sha256.Size || string(data[:len(checkpointMagic)]) != checkpointMagic {
		return nil, corrupt("not a natssl checkpoint (bad magic or too short)")
	}
	body, tail := data[:len(data)-sha256.Size], data[len(data)-sha256.Size:]
	sum := sha256.Sum256(body)
	if !bytes.Equal(sum[:], tail) {
		return nil, corrupt("checksum mismatch (truncated or damaged)")
	}
	r := body[len(checkpointMagic):]
	hl := int(binary.LittleEndian.Uint32(r))
	r = r[4:]
	if hl > len(r) {
		return nil, corrupt("header length past the end")
	}
	c := &Checkpoint{Path: path, Bytes: int64(len(data)), Tensors: map[string][]float32{}}
	whole := sha256.Sum256(data)
	c.SHA256 = hex.EncodeToString(whole[:])
	if err := json.Unmarshal(r[:hl], &c.Header); err != nil {
		return nil, corrupt("header: " + err.Error())
	}
	if c.Header.Version != FormatVersion {
		return nil, fmt.Errorf("trainer: checkpoint %s has format version %d; this natssl reads version %d", path, c.Header.Version, FormatVersion)
	}
	r = r[hl:]
	for _, t := range c.Header.Tensors {
		n := 1
		for _, d := range t.Shape {
			if d < 0 || d > len(r) {
				return nil, corrupt(fmt.Sprintf("tensor %s has shape %v", t.Name, t.Shape))
			}
			n *= d
			if n > len(r) {
				return nil, corrupt("tensor " + t.Name + " past the end")
			}
		}
		if 4*n > len(r) {
			return nil, corrupt("tensor " + t.Name + " past the end")
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(r[4*i:]))
		}
		c.Tensors[t.Name] = v
		r = r[4*n:]
	}
	if len(r) != 0 {
		return nil, corrupt(fmt.Sprintf("%d bytes after the last tensor", len(r)))
	}
	return c, nil
}

// checkpointName is the file name of the checkpoint after step.
func checkpointName(step int64) string { return fmt.Sprintf("step-%09d.ckpt", step) }

// ListCheckpoints returns the checkpoint files of dir, newest (highest step) first.
func ListCheckpoints(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("trainer: list checkpoints: %w", err)
	}
	var names []string
	for _, e := range ents {
		n := e.Name()
		if !e.IsDir() && strings.HasPrefix(n, "step-") && strings.HasSuffix(n, ".ckpt") {
			names = append(names, n)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(names)))
	for i, n := range names {
		names[i] = filepath.Join(dir, n)
	}
	return names, nil
}

// LatestCheckpoint returns the newest checkpoint of dir that reads back and passes its
// checksum. Corrupt newer ones are skipped and reported through skipped (may be nil).
func LatestCheckpoint(dir string, skipped func(path string, err error)) (*Checkpoint, error) {
	paths, err := ListCheckpoints(dir)
	if err != nil {
		return nil, err
	}
	for _, p := range paths {
		c, err := ReadCheckpoint(p)
		if err == nil {
			return c, nil
		}
		if skipped != nil {
			skipped(p, err)
		}
		if !errors.Is(err, ErrCorruptCheckpoint) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("%w in %s", ErrNoCheckpoint, dir)
}

// pruneCheckpoints removes all but the newest keep checkpoints of dir, and the temporary
// files of writes that a crash interrupted; it returns the checkpoints removed.
func pruneCheckpoints(dir string, keep int) ([]string, error) {
	if _, err := RemoveTemporaries(dir); err != nil {
		return nil, err
	}
	if keep <= 0 {
		return nil, nil
	}
	paths, err := ListCheckpoints(dir)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, p := range paths[min(keep, len(paths)):] {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return removed, fmt.Errorf("trainer: remove old checkpoint: %w", err)
		}
		removed = append(removed, p)
	}
	return removed, nil
}

// temporaryName matches the temporary file of a checkpoint being written (the atomic write's
// "." + name + random digits), and the ".tmp-" names of earlier natssl versions.
var temporaryName = regexp.MustCompile(`^\.(tmp-)?step-[0-9]+\.ckpt[0-9]*$`)

// RemoveTemporaries removes the temporary files that writes of checkpoints to dir left when
// their process was killed, and returns their paths. Only one process writes a run's
// checkpoints (a resume refuses a run that is still alive), so none of them is being written.
func RemoveTemporaries(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("trainer: list checkpoints: %w", err)
	}
	var removed []string
	for _, e := range ents {
		if e.Type().IsRegular() && temporaryName.MatchString(e.Name()) {
			p := filepath.Join(dir, e.Name())
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return removed, fmt.Errorf("trainer: remove temporary checkpoint: %w", err)
			}
			removed = append(removed, p)
		}
	}
	return removed, nil
}
