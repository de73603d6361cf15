package repack

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"

	"github.com/natssl/natssl/loader"
)

// writeManifest writes train.json from the journal: the images of shards 0..shards-1 in
// order, their annotations, the categories (cats, or else the class folders seen) and the
// shards with their sizes and checksums. Rows are read from the journal a shard at a time,
// so memory stays one shard's rows whatever the set's size. Images without an id from a
// source manifest are numbered in output order.
func writeManifest(ctx context.Context, st store, done map[int]*entry, shards int, cats []loader.Category, from string) error {
	sk, err := st.create(ctx, manifestName)
	if err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			sk.abort()
		}
	}()
	bw := bufio.NewWriterSize(sk, 1<<20)
	enc := json.NewEncoder(bw)
	put := func(s string) { io.WriteString(bw, s) }
	info, _ := json.Marshal(map[string]string{"description": "tar shards made by natssl data shard", "source": from})
	put(`{"info": ` + string(info) + "\n")

	// Each pass re-reads the rows; entries of this run are in memory without them.
	rows := func(k int) ([]row, error) {
		e := done[k]
		if e == nil {
			return nil, fmt.Errorf("repack: shard %s is not in the journal", shardName(k))
		}
		if e.Rows != nil || e.File.Images == 0 {
			return e.Rows, nil
		}
		full, err := readEntry(ctx, st, entryName(k))
		if err != nil {
			return nil, err
		}
		return full.Rows, nil
	}
	folders := map[int]string{}
	for pass, head := range []string{`, "images": [`, `], "annotations": [`} {
		put(head + "\n")
		var id int64
		first := true
		for k := range shards {
			rs, err := rows(k)
			if err != nil {
				return err
			}
			for _, r := range rs {
				rid := id
				if r.ID != nil {
					rid = *r.ID
				}
				id++
				var v any = manifestImage{ID: rid, FileName: r.FileName, Width: r.Width, Height: r.Height}
				if pass == 1 {
					if r.Category < 0 {
						continue
					}
					v = manifestAnnotation{ID: rid, ImageID: rid, CategoryID: r.Category}
				}
				if !first {
					put(",")
				}
				first = false
				if err := enc.Encode(v); err != nil {
					return err
				}
			}
			for l, n := range done[k].Categories {
				folders[l] = n
			}
		}
	}
	put(`], "categories": [` + "\n")
	if cats == nil {
		for _, l := range sortedInts(folders) {
			cats = append(cats, loader.Category{ID: l, Name: folders[l]})
		}
	}
	for i, c := range cats {
		if i > 0 {
			put(",")
		}
		if err := enc.Encode(c); err != nil {
			return err
		}
	}
	put(`], "shards": [` + "\n")
	for k := range shards {
		if k > 0 {
			put(",")
		}
		if err := enc.Encode(done[k].File); err != nil {
			return err
		}
	}
	put("]}\n")
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("repack: write %s: %w", st.uri(manifestName), err)
	}
	committed = true
	if err := sk.commit(); err != nil {
		return fmt.Errorf("repack: write %s: %w", st.uri(manifestName), err)
	}
	return nil
}

type manifestImage struct {
	ID       int64  `json:"id"`
	FileName string `json:"file_name"`
	Width    int    `json:"width"`
	Height   int    `json:"height"`
}

type manifestAnnotation struct {
	ID         int64 `json:"id"`
	ImageID    int64 `json:"image_id"`
	CategoryID int   `json:"category_id"`
}

func sortedInts(m map[int]string) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Ints(out)
	return out
}
