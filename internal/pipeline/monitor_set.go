package pipeline

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"

	"github.com/natssl/natssl/augment"
	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/loader"
	"github.com/natssl/natssl/probe"
)

// knnSet is the monitor's labelled images: ids (the keys the source gives them), their labels
// and their encoded bytes.
type knnSet struct {
	source  string
	ids     []string
	labels  []int
	images  *probe.Images
	classes int
}

// loadKNNSet reads the images of eval.monitor_knn (any source data.source accepts) and keeps
// at most eval.monitor_knn_images of them: those whose keys hash lowest (FNV-1a, 64 bits), a
// fixed subset whatever the order the source lists them in, chosen in one pass with memory
// for the kept images only. Per-file sources (folders, S3, manifests over them) fetch only the
// kept images. Images without a label are refused; undecodable ones are left out, counted in
// a notice.
func loadKNNSet(ctx context.Context, cfg *configs.Config, pre *augment.Worker, obs Observer) (*knnSet, error) {
	e := cfg.Eval
	if local := strings.TrimPrefix(e.MonitorKNN, "file://"); !strings.HasPrefix(local, "s3://") && !strings.ContainsAny(local, "{*?[") {
		if _, err := os.Stat(local); errors.Is(err, fs.ErrNotExist) {
			return nil, monitorInputError(cfg, "eval.monitor_knn", fmt.Errorf("monitor: eval.monitor_knn %s does not exist: %w", local, loader.ErrNoSource))
		}
	}
	// Its images are read within data.max_image_bytes, regular files only, as the training
	// data's are.
	src, err := loader.Open(ctx, configs.Data{Source: e.MonitorKNN, Root: e.MonitorKNNRoot, S3: cfg.Data.S3, MaxImageBytes: cfg.Data.MaxImageBytes})
	if err != nil {
		return nil, monitorInputError(cfg, "eval.monitor_knn", fmt.Errorf("monitor: eval.monitor_knn %s: %w", e.MonitorKNN, err))
	}
	defer src.Close()
	kept := &lowestHashes{}
	seen := map[string]bool{}
	for _, sh := range src.Shards() {
		if err := keepLowest(ctx, sh, e.MonitorKNNImages, kept, seen); err != nil {
			return nil, fmt.Errorf("monitor: eval.monitor_knn %s: %w", e.MonitorKNN, err)
		}
	}
	recs := kept.items
	sort.Slice(recs, func(i, j int) bool { return recs[i].key < recs[j].key })
	set := &knnSet{source: e.MonitorKNN, images: &probe.Images{Source: e.MonitorKNN, Data: map[string][]byte{}}}
	view := make([]float32, 3*e.ImageSize*e.ImageSize)
	var bad []string
	var firstErr error
	classes := map[int]bool{}
	for _, r := range recs {
		data, err := r.bytes(ctx)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err == nil {
			err = pre.EvalView(data, e.ImageSize, view)
		}
		if err != nil {
			bad = append(bad, r.key)
			firstErr = cmpErr(firstErr, fmt.Errorf("%s: %w", r.key, err))
			continue
		}
		set.ids = append(set.ids, r.key)
		set.labels = append(set.labels, r.label)
		set.images.Data[r.key] = data
		set.images.Bytes += int64(len(data))
		classes[r.label] = true
	}
	if len(bad) > 0 {
		obs.Notice(fmt.Sprintf("monitor: %d images of eval.monitor_knn %s cannot be read and are left out (first: %v)", len(bad), e.MonitorKNN, firstErr))
	}
	set.classes = len(classes)
	if len(set.ids) < 2 || set.classes < 2 {
		return nil, fmt.Errorf("monitor: eval.monitor_knn %s: %d readable images of %d classes; a kNN score needs two classes or more", e.MonitorKNN, len(set.ids), set.classes)
	}
	return set, nil
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// keepLowest reads one shard's records into kept, which holds the n lowest key hashes.
func keepLowest(ctx context.Context, sh loader.Shard, n int, kept *lowestHashes, seen map[string]bool) error {
	recs, err := sh.Open(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", sh.Name(), err)
	}
	defer recs.Close()
	for {
		r, err := recs.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", sh.Name(), err)
		}
		if r.Label < 0 {
			return fmt.Errorf("%s: image %s has no label: the kNN set needs labelled images (a folder per class, iNat-style numbered class folders in archives, or a manifest with annotations)", sh.Name(), r.Key)
		}
		if seen[r.Key] {
			continue
		}
		seen[r.Key] = true
		h := keyHash(r.Key)
		if kept.Len() == n && h >= kept.items[0].hash {
			continue
		}
		heap.Push(kept, hashed{hash: h, key: r.Key, label: r.Label, data: r.Data, load: r.Load})
		if kept.Len() > n {
			heap.Pop(kept)
		}
	}
}

func keyHash(key string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(key))
	return h.Sum64()
}

// hashed is a record of the kNN set being chosen.
type hashed struct {
	hash  uint64
	key   string
	label int
	data  []byte
	load  func(context.Context) ([]byte, error)
}

// bytes returns the record's encoded image, fetching it when the source reads per file.
func (h hashed) bytes(ctx context.Context) ([]byte, error) {
	if h.load != nil {
		return h.load(ctx)
	}
	return h.data, nil
}

// lowestHashes is a max-heap on (hash, key): its root is the record to drop first.
type lowestHashes struct{ items []hashed }

func (h *lowestHashes) Len() int { return len(h.items) }
func (h *lowestHashes) Less(i, j int) bool {
	a, b := h.items[i], h.items[j]
	return a.hash > b.hash || (a.hash == b.hash && a.key > b.key)
}
func (h *lowestHashes) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *lowestHashes) Push(x any)    { h.items = append(h.items, x.(hashed)) }
func (h *lowestHashes) Pop() any {
	x := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return x
}

// monitorTasks chooses n tasks of s for the NeWT monitor, spread over its kinds of task: the
// tasks are grouped by (cluster, subcluster), groups in the order they first appear, and
// each group in turn gives its next task, in suite order, until n are chosen. The chosen
// tasks keep their suite order.
func monitorTasks(s *probe.Suite, n int) *probe.Suite {
	type group struct{ tasks []int }
	var groups []*group
	byName := map[[2]string]*group{}
	for i, t := range s.Tasks {
		k := [2]string{t.Cluster, t.Subcluster}
		g := byName[k]
		if g == nil {
			g = &group{}
			byName[k] = g
			groups = append(groups, g)
		}
		g.tasks = append(g.tasks, i)
	}
	var chosen []int
	for round := 0; len(chosen) < min(n, len(s.Tasks)); round++ {
		for _, g := range groups {
			if round < len(g.tasks) && len(chosen) < n {
				chosen = append(chosen, g.tasks[round])
			}
		}
	}
	sort.Ints(chosen)
	out := &probe.Suite{Name: s.Name}
	for _, i := range chosen {
		t := s.Tasks[i]
		out.Tasks = append(out.Tasks, t)
		for _, set := range [][]probe.Sample{t.Train, t.Test} {
			for _, smp := range set {
				out.IDs = append(out.IDs, smp.ID)
			}
		}
	}
	return out
}

// loadMonitorSuite reads the monitor's suite, keeps eval.monitor_newt_tasks of its tasks and
// reads their images. Images that are missing are refused (as natssl eval does); undecodable
// ones are left out, counted in a notice. A task left too small for the probe's
// cross-validation is refused, before training starts.
func loadMonitorSuite(ctx context.Context, cfg *configs.Config, pre *augment.Worker, obs Observer) (*suite, error) {
	csv, imagesPath := cfg.Eval.MonitorSuite()
	csvKey, imagesKey := "eval.monitor_newt_csv", "eval.monitor_newt_images"
	if cfg.Eval.MonitorNewtCSV == "" {
		csvKey = "eval.newt_csv"
	}
	if cfg.Eval.MonitorNewtImages == "" {
		imagesKey = "eval.images"
	}
	full, err := probe.LoadSuite(csv)
	if err != nil {
		return nil, monitorInputError(cfg, csvKey, fmt.Errorf("monitor: %w", err))
	}
	s := monitorTasks(full, cfg.Eval.MonitorNewtTasks)
	images, err := probe.ReadImages(ctx, imagesPath, s.IDs)
	if err != nil {
		return nil, monitorInputError(cfg, imagesKey, fmt.Errorf("monitor: %w", err))
	}
	size := cfg.Eval.ImageSize
	view := make([]float32, 3*size*size)
	drop := map[string]bool{}
	var firstErr error
	for _, id := range s.IDs {
		if err := pre.EvalView(images.Data[id], size, view); err != nil {
			drop[id] = true
			firstErr = cmpErr(firstErr, fmt.Errorf("%s: %w", id, err))
		}
	}
	if len(drop) > 0 {
		obs.Notice(fmt.Sprintf("monitor: %d images of the suite %s cannot be read and are left out (first: %v)", len(drop), csv, firstErr))
		if s, err = s.Without(drop); err != nil {
			return nil, fmt.Errorf("monitor: %w", err)
		}
	}
	for _, t := range s.Tasks {
		var n [2]int
		for _, smp := range t.Train {
			n[smp.Label]++
		}
		if min(n[0], n[1]) < monitorFolds {
			return nil, fmt.Errorf("monitor: %s:%d: task %q has %d/%d train images of label 0/1; the probe's %d-fold cross-validation needs %d of each",
				csv, t.Line, t.Name, n[0], n[1], monitorFolds, monitorFolds)
		}
	}
	return &suite{Suite: s, images: images}, nil
}

// monitorFolds is the probe's cross-validation (the protocol's default).
const monitorFolds = 3
