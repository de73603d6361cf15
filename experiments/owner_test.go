package experiments

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// claimHelper is a process that claims run NATSSL_RUN of NATSSL_DB, prints "claimed" or the
// refusal, and holds a claimed run for a while, alive.
func claimHelper(ctx context.Context) error {
	db, err := Open(ctx, os.Getenv("NATSSL_DB"))
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ClaimRun(ctx, os.Getenv("NATSSL_RUN"), false); err != nil {
		fmt.Println("refused:", err)
		return nil
	}
	fmt.Println("claimed")
	time.Sleep(1500 * time.Millisecond)
	return nil
}

// deadPID is a process id that no process has: a child that has exited and been reaped.
func deadPID(t *testing.T) int {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// TestBusy: a run is another live process's only while RUNNING with a fresh heartbeat, and,
// on this host, while its process is alive.
func TestBusy(t *testing.T) {
	db := openTemp(t)
	host, _ := os.Hostname()
	now := db.now()
	tests := []struct {
		name string
		o    Owner
		want bool
	}{
		{"this process (live, but not another's)", Owner{StatusRunning, host, os.Getpid(), now}, false},
		{"a live process of this host", Owner{StatusRunning, host, os.Getppid(), now}, true},
		{"a dead process of this host", Owner{StatusRunning, host, deadPID(t), now}, false},
		{"another host, fresh heartbeat", Owner{StatusRunning, "elsewhere", 12, now}, true},
		{"another host, stale heartbeat", Owner{StatusRunning, "elsewhere", 12, now.Add(-DefaultStaleAfter - time.Second)}, false},
		{"no process recorded", Owner{StatusRunning, host, 0, now}, true},
		{"finished", Owner{StatusFinished, "elsewhere", 12, now}, false},
		{"killed", Owner{StatusKilled, host, os.Getppid(), now}, false},
	}
	for _, tt := range tests {
		if got := db.Busy(tt.o); got != tt.want {
			t.Errorf("%s: Busy = %v, want %v", tt.name, got, tt.want)
		}
		if own := tt.o.Host == host && tt.o.PID == os.Getpid(); db.Live(tt.o) != (tt.want || own) {
			t.Errorf("%s: Live = %v", tt.name, db.Live(tt.o))
		}
	}
}

// TestStaleByLiveness: a listing shows a RUNNING run as stale by the rule a resume and a
// deletion go by: its process died (on this host) however fresh its heartbeat, or it stopped
// beating.
func TestStaleByLiveness(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	want := map[string]bool{}
	for name, pid := range map[string]int{"alive": os.Getpid(), "killed": deadPID(t)} {
		r, err := db.CreateRun(ctx, RunSpec{Name: name, PID: pid})
		if err != nil {
			t.Fatal(err)
		}
		want[r.ID()] = name == "killed"
	}
	runs, err := db.ListRuns(ctx, ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		rec, err := db.GetRun(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Stale != want[r.ID] || rec.Stale != want[r.ID] {
			t.Errorf("run %s: stale %v in the listing, %v in its record; want %v", r.Name, r.Stale, rec.Stale, want[r.ID])
		}
	}
}

// TestClaimRunOnce: of two processes that claim a dead run at the same moment, one gets it and
// the other is refused, naming the first; the run records the claimant's host and process.
func TestClaimRunOnce(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "natssl.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r, err := db.CreateRun(ctx, RunSpec{Name: "claimed", PID: deadPID(t)})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	outs := make([]string, 2)
	for i := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), helperEnv+"=claim", "NATSSL_DB="+path, "NATSSL_RUN="+r.ID())
			out, err := cmd.CombinedOutput()
			outs[i] = strings.TrimSpace(string(out))
			if err != nil {
				outs[i] += " (" + err.Error() + ")"
			}
		}()
	}
	wg.Wait()
	claimed, refused := 0, 0
	for _, o := range outs {
		switch {
		case o == "claimed":
			claimed++
		case strings.HasPrefix(o, "refused:") && strings.Contains(o, "is RUNNING in process"):
			refused++
		}
	}
	if claimed != 1 || refused != 1 {
		t.Fatalf("outputs %q: want one claim and one refusal", outs)
	}
	o, err := db.Owner(ctx, r.ID())
	if err != nil || o.PID == 0 || o.PID == os.Getpid() || o.Status != StatusRunning {
		t.Errorf("owner %+v, %v: want the claiming process", o, err)
	}
	if _, err := db.ClaimRun(ctx, "feedface", false); !errors.Is(err, ErrNotFound) {
		t.Errorf("claim of an unknown run: %v", err)
	}
}

// TestRewind: a run resumed from its checkpoint at step 4 forgets what it logged after step 4
// (in the database and still buffered), so that its steps and latest values are those of the
// step it continues from until it passes them again.
func TestRewind(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	r, err := db.CreateRun(ctx, RunSpec{Name: "rewound"})
	if err != nil {
		t.Fatal(err)
	}
	for step := int64(1); step <= 6; step++ {
		if err := r.LogMetrics(ctx, step, map[string]float64{"loss": float64(10 - step)}); err != nil {
			t.Fatal(err)
		}
		if step == 5 {
			if err := r.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	n, err := r.Rewind(ctx, 4)
	if err != nil || n != 1 {
		t.Fatalf("Rewind: %d rows, %v; want the row of step 5 (step 6 was still buffered)", n, err)
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rec, err := db.GetRun(ctx, r.ID())
	if err != nil {
		t.Fatal(err)
	}
	if rec.Steps != 4 || rec.Latest["loss"].Value != 6 {
		t.Errorf("after the rewind: %d steps, latest loss %v; want step 4's (6)", rec.Steps, rec.Latest["loss"].Value)
	}
	if n, err := r.Rewind(ctx, 4); n != 0 || err != nil {
		t.Errorf("a second rewind removed %d rows (%v)", n, err)
	}
}
