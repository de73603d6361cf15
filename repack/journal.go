package repack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/natssl/natssl/loader"
)

// Names in the output.
const (
	shardPrefix  = "train"
	manifestName = "train.json"
	journalDir   = ".natssl-shard" // the journal of an unfinished set; removed when it is done
	planName     = "plan.json"
	endName      = "end.json" // written when every shard is: the set's shard count
)

// shardName is the file name of output shard k.
func shardName(k int) string { return fmt.Sprintf("%s-%06d.tar", shardPrefix, k) }

// plan is what a set is made from; a resumed run must be making the same set.
type plan struct {
	Version   int    `json:"version"`
	From      string `json:"from"`
	Root      string `json:"root,omitempty"`
	ShardSize int64  `json:"shard_size,omitempty"`
	Shards    int    `json:"shards,omitempty"`
	Count     int64  `json:"count,omitempty"` // with Shards: the source's images the cut divides
}

const planVersion = 1

// at is a place in the source's sequence of records: input shard Input after Record of its
// records, Seq records of the whole source before it.
type at struct {
	Input  int   `json:"input"`
	Record int64 `json:"record"`
	Seq    int64 `json:"seq"`
}

// entry is the journal of one finished output shard: where its input ended, what it holds
// (the manifest rows of its images) and what was left out.
type entry struct {
	Shard      int                  `json:"shard"`
	File       loader.ManifestShard `json:"file"`
	End        at                   `json:"end"`
	Skipped    map[string]int64     `json:"skipped,omitempty"`
	Examples   []string             `json:"skipped_examples,omitempty"`
	Categories map[int]string       `json:"categories,omitempty"` // label → folder name
	Rows       []row                `json:"rows"`
}

// row is one image of a shard, as the manifest lists it.
type row struct {
	ID       *int64 `json:"id,omitempty"` // the source manifest's; nil: numbered in output order
	FileName string `json:"file_name"`
	Width    int    `json:"width"`
	Height   int    `json:"height"`
	Category int    `json:"category"` // -1: no label
}

func entryName(k int) string {
	return journalDir + "/" + strings.TrimSuffix(shardName(k), ".tar") + ".json"
}

// checkPlan records p as the plan of the set being made in st, or checks that it is the plan
// already recorded there. A folder or prefix that holds shards without a plan, or a finished
// set, is refused: this command never writes over what it did not start.
func checkPlan(ctx context.Context, st store, p plan) error {
	b, err := st.get(ctx, journalDir+"/"+planName)
	if errors.Is(err, fs.ErrNotExist) {
		top, err := st.list(ctx, "")
		if err != nil {
			return err
		}
		for _, n := range top {
			if isShardName(n) || n == manifestName {
				return fmt.Errorf("repack: %s already holds %s, which this command did not start: choose another --out, or remove it: %w", st.uri(""), st.uri(n), ErrExists)
			}
		}
		data, _ := json.Marshal(p)
		return st.put(ctx, journalDir+"/"+planName, data)
	}
	if err != nil {
		return err
	}
	var was plan
	if err := json.Unmarshal(b, &was); err != nil {
		return fmt.Errorf("repack: %s: %w", st.uri(journalDir+"/"+planName), err)
	}
	if was != p {
		return fmt.Errorf("repack: %s holds an unfinished set made with other options (%+v, now %+v): rerun with those, or choose another --out: %w", st.uri(""), was, p, ErrExists)
	}
	return nil
}

// readJournal returns the finished shards recorded in st, by number.
func readJournal(ctx context.Context, st store) (map[int]*entry, error) {
	names, err := st.list(ctx, journalDir)
	if err != nil {
		return nil, err
	}
	done := map[int]*entry{}
	for _, n := range names {
		if !strings.HasPrefix(strings.TrimPrefix(n, journalDir+"/"), shardPrefix+"-") {
			continue
		}
		e, err := readEntry(ctx, st, n)
		if err != nil {
			return nil, err
		}
		done[e.Shard] = e
	}
	return done, nil
}

func readEntry(ctx context.Context, st store, name string) (*entry, error) {
	b, err := st.get(ctx, name)
	if err != nil {
		return nil, err
	}
	e := &entry{}
	if err := json.Unmarshal(b, e); err != nil {
		return nil, fmt.Errorf("repack: journal %s: %w", st.uri(name), err)
	}
	if entryName(e.Shard) != name {
		return nil, fmt.Errorf("repack: journal %s speaks of shard %d", st.uri(name), e.Shard)
	}
	return e, nil
}

// clearJournal removes the journal of a finished set, its plan last: a set with a manifest
// and no plan is finished.
func clearJournal(ctx context.Context, st store) error {
	names, err := st.list(ctx, journalDir)
	if err != nil {
		return err
	}
	plan := journalDir + "/" + planName
	names = slices.DeleteFunc(names, func(n string) bool { return n == plan })
	if err := st.remove(ctx, names...); err != nil {
		return err
	}
	return st.remove(ctx, plan, journalDir)
}

// readEnd returns the shard count of a set whose shards are all written, 0 when they are not.
func readEnd(ctx context.Context, st store) (int, error) {
	b, err := st.get(ctx, journalDir+"/"+endName)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var end struct{ Shards int }
	if err := json.Unmarshal(b, &end); err != nil || end.Shards < 1 {
		return 0, fmt.Errorf("repack: journal %s: want {\"shards\": N}", st.uri(journalDir+"/"+endName))
	}
	return end.Shards, nil
}

func writeEnd(ctx context.Context, st store, shards int) error {
	return st.put(ctx, journalDir+"/"+endName, []byte(fmt.Sprintf("{\"shards\": %d}\n", shards)))
}
