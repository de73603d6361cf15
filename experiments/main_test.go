package experiments

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"

	"go.uber.org/goleak"

	"github.com/natssl/natssl/experiments/metric"
)

// The tests re-run their own binary as helper processes (writers to kill, concurrent writers):
// with helperEnv set, TestMain plays that part instead of running the tests.
const helperEnv = "NATSSL_EXPERIMENTS_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		if err := runHelper(mode); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// helperKeys are the metrics a helper logs at every step.
var helperKeys = []string{metric.Loss, metric.LR, metric.ImagesPerS, metric.DataWait, metric.Epoch, metric.BatchesIncomplete, "k6", "k7"}

// runHelper is a writer process: NATSSL_DB is the database, NATSSL_STEPS how many steps to log
// (0 = until killed). It prints "ready <run id>" once its first batch is committed.
func runHelper(mode string) error {
	ctx := context.Background()
	if mode == "claim" {
		return claimHelper(ctx)
	}
	steps, _ := strconv.ParseInt(os.Getenv("NATSSL_STEPS"), 10, 64)
	db, err := Open(ctx, os.Getenv("NATSSL_DB"))
	if err != nil {
		return err
	}
	defer db.Close()
	r, err := db.CreateRun(ctx, RunSpec{Name: mode, Seed: 1})
	if err != nil {
		return err
	}
	values := make(map[string]float64, len(helperKeys))
	for step := int64(0); steps == 0 || step < steps; step++ {
		for i, k := range helperKeys {
			values[k] = float64(step) + float64(i)/10
		}
		if err := r.LogMetrics(ctx, step, values); err != nil {
			return err
		}
		if step == flushRows/int64(len(helperKeys)) {
			fmt.Printf("ready %s\n", r.ID())
		}
	}
	return r.Finish(ctx, StatusFinished, "")
}
