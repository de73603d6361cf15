package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/mpi"
)

// rankCaseEnv names the rank program the test binary runs instead of its tests, under mpirun.
const rankCaseEnv = "PIPELINE_RANK_CASE"

// runRankCase runs one rank of a job the tests start under mpirun.
func runRankCase(name string) int {
	w, err := mpi.Init()
	if err == nil {
		switch name {
		case "shards":
			err = caseShards(w)
		default:
			err = fmt.Errorf("no rank case %q", name)
		}
	}
	if err != nil {
		fmt.Printf("rank %d: FAIL %v\n", w.Rank(), err)
		w.Fail(1, err)
	}
	if err := w.Finalize(); err != nil {
		fmt.Printf("rank %d: FAIL finalize: %v\n", w.Rank(), err)
		return 1
	}
	fmt.Printf("rank %d: ok\n", w.Rank())
	return 0
}

// caseShards reads SHARDS_EPOCHS epochs of SHARDS_SOURCE the way a training rank does
// (openData over the job's ranks) and prints every sample it was dealt: "key R E K" for
// rank R, epoch E, key K.
func caseShards(w *mpi.World) error {
	epochs, err := strconv.Atoi(os.Getenv("SHARDS_EPOCHS"))
	if err != nil {
		return err
	}
	cfg, err := configs.Load(configs.Sources{File: "smoke", Env: []string{}, Sets: []string{
		"data.source=" + os.Getenv("SHARDS_SOURCE"), "data.image_size=8", "data.shuffle_buffer=8",
		fmt.Sprintf("data.batch_size=%d", 4*w.Size()), "train.devices=cpu", "train.steps=0", fmt.Sprintf("train.epochs=%d", epochs)}})
	if err != nil {
		return err
	}
	d, err := openData(context.Background(), cfg, nil, newRanks(w), nil)
	if err != nil {
		return err
	}
	defer d.Close()
	for {
		b, err := d.l.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, k := range b.Keys[:b.N] {
			fmt.Printf("key %d %d %s\n", w.Rank(), b.Epoch, k)
		}
		d.l.Release(b)
	}
}
