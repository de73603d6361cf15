package experiments

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// helper starts this test binary as a writer process on dbPath.
func helper(t *testing.T, mode, dbPath string, steps int) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, "NATSSL_DB="+dbPath, "NATSSL_STEPS="+strconv.Itoa(steps))
	cmd.Stderr = os.Stderr
	return cmd
}

// rawOpen opens a database file with database/sql only, bypassing Open's checks.
func rawOpen(t *testing.T, path string) *sql.DB {
	t.Helper()
	s, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=30000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func integrityCheck(t *testing.T, path string) {
	t.Helper()
	var res string
	if err := rawOpen(t, path).QueryRow(`PRAGMA integrity_check`).Scan(&res); err != nil {
		t.Fatal(err)
	}
	if res != "ok" {
		t.Fatalf("integrity_check: %s", res)
	}
}

// checkStepsAtomic checks that every step of run id has all helper keys or none, that the steps
// are 0..n-1 without gaps, and that latest_metrics agrees; it returns n.
func checkStepsAtomic(t *testing.T, s *sql.DB, id string) int64 {
	t.Helper()
	var steps, rows, maxStep int64
	if err := s.QueryRow(`SELECT count(DISTINCT step), count(*), coalesce(max(step), -1) FROM metrics WHERE run_id = ?`, id).
		Scan(&steps, &rows, &maxStep); err != nil {
		t.Fatal(err)
	}
	if rows != steps*int64(len(helperKeys)) || maxStep != steps-1 {
		t.Errorf("run %s: %d rows over %d steps (max %d): a batch was half written", id, rows, steps, maxStep)
	}
	var latest int64
	if err := s.QueryRow(`SELECT count(*) FROM latest_metrics WHERE run_id = ? AND step = ?`, id, maxStep).Scan(&latest); err != nil {
		t.Fatal(err)
	}
	if steps > 0 && latest != int64(len(helperKeys)) {
		t.Errorf("run %s: latest_metrics has %d keys at step %d, want %d", id, latest, maxStep, len(helperKeys))
	}
	return steps
}

func TestTwoWriterProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.db")
	const steps = 6000
	// Both processes open the fresh file at once: one migrates, the other waits for it.
	a, b := helper(t, "writer-a", path, steps), helper(t, "writer-b", path, steps)
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	if err := a.Wait(); err != nil {
		t.Fatalf("writer a: %v", err)
	}
	if err := b.Wait(); err != nil {
		t.Fatalf("writer b: %v", err)
	}
	integrityCheck(t, path)
	s := rawOpen(t, path)
	rows, err := s.Query(`SELECT id, name, status FROM runs ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for rows.Next() {
		var id, name, status string
		if err := rows.Scan(&id, &name, &status); err != nil {
			t.Fatal(err)
		}
		if status != "FINISHED" {
			t.Errorf("run %s: status %s", name, status)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if len(ids) != 2 {
		t.Fatalf("%d runs, want 2", len(ids))
	}
	for _, id := range ids {
		if n := checkStepsAtomic(t, s, id); n != steps {
			t.Errorf("run %s: %d steps, want %d", id, n, steps)
		}
	}
}

func TestTwoWriterConnections(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shared.db")
	const steps = 3000
	var wg sync.WaitGroup
	errs := make([]error, 2)
	ids := make([]string, 2)
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := Open(ctx, path) // each writer its own *DB: its own connections
			if err != nil {
				errs[w] = err
				return
			}
			defer db.Close()
			r, err := db.CreateRun(ctx, RunSpec{Name: fmt.Sprint("w", w)})
			if err != nil {
				errs[w] = err
				return
			}
			ids[w] = r.ID()
			values := map[string]float64{}
			for step := int64(0); step < steps; step++ {
				for i, k := range helperKeys {
					values[k] = float64(i)
				}
				if err := r.LogMetrics(ctx, step, values); err != nil {
					errs[w] = err
					return
				}
				if step%500 == 0 {
					if err := r.Flush(ctx); err != nil { // small batches: many interleaved transactions
						errs[w] = err
						return
					}
				}
			}
			errs[w] = r.Finish(ctx, StatusFinished, "")
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	s := rawOpen(t, path)
	for _, id := range ids {
		if n := checkStepsAtomic(t, s, id); n != steps {
			t.Errorf("run %s: %d steps, want %d", id, n, steps)
		}
	}
}

func TestKilledWriterLeavesSoundDatabase(t *testing.T) {
	for i := range 3 {
		t.Run(fmt.Sprint("kill", i), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "killed.db")
			cmd := helper(t, "killed", path, 0)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			line, err := bufio.NewReader(out).ReadString('\n')
			if err != nil {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("helper: %v", err)
			}
			id := strings.TrimSpace(strings.TrimPrefix(line, "ready "))
			time.Sleep(time.Duration(20+60*i) * time.Millisecond) // mid-write: it commits a batch every few ms
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()

			integrityCheck(t, path)
			db, err := Open(context.Background(), path)
			if err != nil {
				t.Fatalf("reopen after SIGKILL: %v", err)
			}
			defer db.Close()
			rec, err := db.GetRun(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Status != StatusRunning {
				t.Errorf("status %s, want RUNNING (it never finished)", rec.Status)
			}
			n := checkStepsAtomic(t, rawOpen(t, path), id)
			if n < flushRows/int64(len(helperKeys)) {
				t.Errorf("%d steps survived, want at least the first batch", n)
			}
			if rec.Steps != n-1 {
				t.Errorf("GetRun steps %d, want %d", rec.Steps, n-1)
			}
		})
	}
}

// TestSQLiteShellReadsWhileWriting runs Debian's sqlite3 against the database while a run writes.
func TestSQLiteShellReadsWhileWriting(t *testing.T) {
	shell, err := exec.LookPath("sqlite3")
	if err != nil {
		t.Fatal("the sqlite3 command-line tool is needed (apt-get install sqlite3)")
	}
	path := filepath.Join(t.TempDir(), "live.db")
	cmd := helper(t, "live", path, 0)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	if _, err := bufio.NewReader(out).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	var last int64
	for i := range 5 {
		got, err := exec.Command(shell, "-bail", path, "SELECT count(*) FROM metrics; SELECT status FROM runs;").CombinedOutput()
		if err != nil {
			t.Fatalf("sqlite3 read %d while writing: %v: %s", i, err, got)
		}
		fields := strings.Fields(string(got))
		if len(fields) != 2 || fields[1] != "RUNNING" {
			t.Fatalf("sqlite3 printed %q", got)
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil || n < last || n == 0 {
			t.Fatalf("sqlite3 read %d: count %q after %d", i, fields[0], last)
		}
		last = n
		time.Sleep(50 * time.Millisecond)
	}
	got, err := exec.Command(shell, path, "PRAGMA integrity_check;").CombinedOutput()
	if err != nil || strings.TrimSpace(string(got)) != "ok" {
		t.Fatalf("sqlite3 integrity_check while writing: %v: %s", err, got)
	}
}
