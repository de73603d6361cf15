package cli

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/experiments/metric"
)

// runCLIInput is runCLI with text on stdin (answers to a question).
func runCLIInput(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// namedRuns adds runs named "sweep" twice and one named like the prefix of another run's id to
// the tracker at path, and returns their ids in the order they started.
func namedRuns(t *testing.T, path string, names ...string) []string {
	t.Helper()
	db, err := experiments.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ids []string
	for _, n := range names {
		time.Sleep(3 * time.Millisecond) // runs of a name are counted in the order they started
		r, err := db.CreateRun(context.Background(), experiments.RunSpec{Name: n, GitCommit: "x"})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.LogMetrics(context.Background(), 5, map[string]float64{metric.Loss: 1}); err != nil {
			t.Fatal(err)
		}
		if err := r.Finish(context.Background(), experiments.StatusFinished, ""); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID())
	}
	return ids
}

func TestRunsByName(t *testing.T) {
	path, ids := trackerFixture(t)
	sweep := namedRuns(t, path, "sweep", "sweep")
	prefixName := namedRuns(t, path, ids["good"][:4]) // a run named like the prefix of another's id
	tests := []struct {
		name string
		ref  string
		want string // the id shown; "" when refused
		code int
		msg  []string
	}{
		{"a name: its latest run", "sweep", sweep[1], 0, nil},
		{"NAME@1: its first", "sweep@1", sweep[0], 0, nil},
		{"latest", "latest", prefixName[0], 0, nil},
		{"an id prefix", ids["broken"][:7], ids["broken"], 0, nil},
		{"a name that is another run's id prefix", ids["good"][:4], "", 2, []string{"it could be", prefixName[0], ids["good"], "give more of the id"}},
		{"NAME@K beyond", "sweep@3", "", 2, []string{`"sweep" has 2 run(s)`}},
		{"no such run", "nothing", "", 2, []string{`run "nothing"`, "NAME@K"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "runs", "show", tt.ref, "--db", path)
			if code != tt.code {
				t.Fatalf("exit %d, want %d: %s", code, tt.code, stderr)
			}
			if first := strings.Fields(strings.SplitN(stdout, "\n", 2)[0]); tt.want != "" && (len(first) != 2 || first[1] != tt.want) {
				t.Errorf("showed\n%s\nwant run %s", stdout, tt.want)
			}
			for _, m := range tt.msg {
				if !strings.Contains(stderr, m) {
					t.Errorf("stderr %q does not say %q", stderr, m)
				}
			}
		})
	}
	// The report takes names too.
	code, stdout, stderr := runCLI(t, "report", "sweep@1", "sweep", "--db", path)
	if code != 0 || !strings.Contains(stdout, sweep[0]) || !strings.Contains(stdout, "2 runs from") {
		t.Errorf("report by names: exit %d: %s %s", code, stdout, stderr)
	}
}

func TestRunsListFilters(t *testing.T) {
	path, ids := trackerFixture(t)
	if code, _, stderr := runCLI(t, "runs", "tag", "good", "team=birds", "lr=0.1", "--db", path); code != 0 {
		t.Fatalf("runs tag: exit %d: %s", code, stderr)
	}
	tests := []struct {
		args []string
		want []string // names, in order
	}{
		{[]string{"--status", "failed"}, []string{"broken"}},
		{[]string{"--status", "stale,finished"}, []string{"crashed", "good"}},
		{[]string{"--name", "b*"}, []string{"broken"}},
		{[]string{"--tag", "team=birds"}, []string{"good"}},
		{[]string{"--tag", "team=fish"}, nil},
		{[]string{"--sort", "newt"}, []string{"good", "broken", "crashed"}}, // unevaluated last, in the order they started
		{[]string{"--sort", "started", "--limit", "1"}, []string{"crashed"}},
		{[]string{"--sort", "name", "-r"}, []string{"good", "crashed", "broken"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := runCLI(t, append([]string{"runs", "list", "--db", path}, tt.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var got []string
			for _, line := range strings.Split(strings.TrimSpace(stdout), "\n")[1:] {
				if f := strings.Fields(line); len(f) > 1 && f[0] != "no" {
					got = append(got, f[1])
				}
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("listed %v, want %v:\n%s", got, tt.want, stdout)
			}
		})
	}
	for _, bad := range [][]string{{"--status", "sleeping"}, {"--tag", "novalue"}, {"--sort", "speed"}, {"--limit", "-1"}} {
		if code, _, stderr := runCLI(t, append([]string{"runs", "list", "--db", path}, bad...)...); code != 2 || strings.Count(stderr, "\n") != 1 {
			t.Errorf("runs list %v: exit %d, stderr %q; want 2 and one line", bad, code, stderr)
		}
	}
	_ = ids
}

func TestRunsTagNoteArchive(t *testing.T) {
	path, ids := trackerFixture(t)
	steps := [][]string{
		{"runs", "note", "good", "the one to beat"},
		{"runs", "tag", "good", "a=1", "b=2"},
		{"runs", "tag", "good", "--remove", "a"},
		{"runs", "archive", "broken", "crashed"},
	}
	for _, s := range steps {
		if code, _, stderr := runCLI(t, append(s, "--db", path)...); code != 0 {
			t.Fatalf("%v: exit %d: %s", s, code, stderr)
		}
	}
	_, stdout, _ := runCLI(t, "runs", "show", "good", "--db", path)
	for _, w := range []string{"note the one to beat", "tag b 2"} {
		if !strings.Contains(strings.Join(strings.Fields(stdout), " "), w) {
			t.Errorf("runs show lacks %q:\n%s", w, stdout)
		}
	}
	if strings.Contains(stdout, "tag a ") {
		t.Errorf("removed tag still shown:\n%s", stdout)
	}
	list := func(args ...string) string {
		_, out, _ := runCLI(t, append([]string{"runs", "list", "--db", path}, args...)...)
		return out
	}
	if out := list(); strings.Contains(out, "broken") || !strings.Contains(out, "good") {
		t.Errorf("archived runs listed:\n%s", out)
	}
	if out := list("--all"); !strings.Contains(out, "FAILED (archived)") {
		t.Errorf("--all lacks the archived run:\n%s", out)
	}
	if out := list("--archived"); strings.Contains(out, "good") || !strings.Contains(out, "crashed") {
		t.Errorf("--archived:\n%s", out)
	}
	if code, _, _ := runCLI(t, "runs", "archive", "--undo", ids["broken"], "--db", path); code != 0 || !strings.Contains(list(), "broken") {
		t.Errorf("archive --undo did not bring broken back:\n%s", list())
	}
	if code, _, stderr := runCLI(t, "runs", "note", "good", "--db", path); code != 2 || !strings.Contains(stderr, "accepts 2 arg(s)") {
		t.Errorf("note without text: exit %d %q", code, stderr)
	}
	if code, _, stderr := runCLI(t, "runs", "tag", "good", "--db", path); code != 2 || !strings.Contains(stderr, "KEY=VALUE") {
		t.Errorf("tag without tags: exit %d %q", code, stderr)
	}
}

func TestRunsDelete(t *testing.T) {
	path, ids := trackerFixture(t)
	dir := t.TempDir()
	// A run whose checkpoints are real files in its own folder.
	ckDir := filepath.Join(dir, "runs", "ID", "checkpoints")
	db, err := experiments.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := db.CreateRun(context.Background(), experiments.RunSpec{Name: "with-files", GitCommit: "x"})
	if err != nil {
		t.Fatal(err)
	}
	ckDir = strings.Replace(ckDir, "ID", r.ID(), 1)
	if err := os.MkdirAll(ckDir, 0o755); err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, step := range []int64{10, 20} {
		p := filepath.Join(ckDir, "step-0000000"+map[int64]string{10: "10", 20: "20"}[step]+".ckpt")
		if err := os.WriteFile(p, []byte("ckpt"), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
		if step == 20 {
			if err := r.RecordCheckpoint(context.Background(), step, p, "ab", 4); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := r.Finish(context.Background(), experiments.StatusFinished, ""); err != nil {
		t.Fatal(err)
	}
	live, err := db.CreateRun(context.Background(), experiments.RunSpec{Name: "live", GitCommit: "x"})
	if err != nil {
		t.Fatal(err)
	}
	// RUNNING with a fresh heartbeat, but its process (on this host) is gone: killed -9.
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	killed, err := db.CreateRun(context.Background(), experiments.RunSpec{Name: "killed", GitCommit: "x", PID: gone.Process.Pid})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	exists := func(ref string) bool {
		code, _, _ := runCLI(t, "runs", "show", ref, "--db", path)
		return code == 0
	}
	// Asked, and declined: nothing is deleted, exit 1.
	code, _, stderr := runCLIInput(t, "n\n", "runs", "delete", "broken", "--db", path)
	if code != 1 || !strings.Contains(stderr, "delete run "+ids["broken"][:12]) || !strings.Contains(stderr, "[y/N]") || !exists("broken") {
		t.Errorf("declined: exit %d, stderr %q", code, stderr)
	}
	// No answer at all (a script without --yes): nothing is deleted.
	if code, _, _ := runCLIInput(t, "", "runs", "delete", "broken", "--db", path); code != 1 || !exists("broken") {
		t.Errorf("unanswered: exit %d", code)
	}
	// Asked, and confirmed: the run goes, its files stay.
	code, stdout, stderr := runCLIInput(t, "y\n", "runs", "delete", "broken", "--db", path)
	if code != 0 || !strings.Contains(stdout, "deleted run "+ids["broken"]) || exists(ids["broken"]) {
		t.Errorf("confirmed: exit %d, %s %s", code, stdout, stderr)
	}
	// --yes --purge: the run and its checkpoint files, and its emptied folders.
	code, stdout, stderr = runCLI(t, "runs", "delete", "with-files", "--yes", "--purge", "--db", path)
	if code != 0 || exists(r.ID()) {
		t.Fatalf("purge: exit %d, %s %s", code, stdout, stderr)
	}
	for _, p := range append(files, ckDir, filepath.Dir(ckDir)) {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s left after --purge (%v)", p, err)
		}
		if !strings.Contains(stdout, "removed "+p) {
			t.Errorf("--purge does not say it removed %s:\n%s", p, stdout)
		}
	}
	// A live run is refused, naming its process; one whose process died goes at once.
	if code, _, stderr := runCLI(t, "runs", "delete", live.ID(), "--yes", "--db", path); code != 2 || !strings.Contains(stderr, "stop it first") ||
		!strings.Contains(stderr, fmt.Sprintf("process %d", os.Getpid())) || !exists(live.ID()) {
		t.Errorf("live run: exit %d, %q", code, stderr)
	}
	if code, _, stderr := runCLI(t, "runs", "delete", killed.ID(), "--yes", "--db", path); code != 0 || exists(killed.ID()) {
		t.Errorf("a RUNNING run whose process died: exit %d, %q; want it deleted", code, stderr)
	}
}

func TestRunsMetrics(t *testing.T) {
	path, _ := trackerFixture(t)
	code, stdout, stderr := runCLI(t, "runs", "metrics", "good", "--csv", "--db", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	rows, err := csv.NewReader(strings.NewReader(stdout)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 21 || strings.Join(rows[0], ",") != "step,at,images_per_s,loss" || rows[1][0] != "1" || rows[20][3] != "2" {
		t.Errorf("CSV %d rows, header %v, last %v", len(rows), rows[0], rows[len(rows)-1])
	}
	code, stdout, _ = runCLI(t, "runs", "metrics", "good", "--key", "loss", "--db", path)
	if lines := strings.Split(strings.TrimSpace(stdout), "\n"); code != 0 || len(lines) != 21 || !strings.HasSuffix(strings.TrimSpace(lines[0]), "loss") {
		t.Errorf("table: exit %d:\n%s", code, stdout)
	}
}

func TestRunsWatch(t *testing.T) {
	path, _ := trackerFixture(t)
	// An ended run: its rows, then its end, at once.
	code, stdout, _ := runCLI(t, "runs", "watch", "good", "--db", path)
	if code != 0 || !strings.Contains(stdout, "step 20  loss 2") || !strings.Contains(stdout, "FINISHED after 20 steps") {
		t.Errorf("finished run: exit %d:\n%s", code, stdout)
	}
	if code, _, stderr := runCLI(t, "runs", "watch", "broken", "--db", path); code != 1 || !strings.Contains(stderr, "ended FAILED: loss is NaN") {
		t.Errorf("failed run: exit %d %q", code, stderr)
	}
	// A live run, written by another connection while the watch reads: rows as they land,
	// and the watch ends when the run does.
	db, err := experiments.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r, err := db.CreateRun(context.Background(), experiments.RunSpec{Name: "live", GitCommit: "x"})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for step := int64(1); step <= 3; step++ {
			time.Sleep(150 * time.Millisecond)
			_ = r.LogMetrics(context.Background(), step, map[string]float64{metric.LossLast: float64(step)})
			_ = r.Flush(context.Background())
		}
		_ = r.Finish(context.Background(), experiments.StatusFinished, "")
	}()
	code, stdout, stderr := runCLI(t, "runs", "watch", r.ID()[:10], "--every", "50ms", "--db", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, w := range []string{"step 1  loss_last 1", "step 2  loss_last 2", "step 3  loss_last 3", "FINISHED after 3 steps"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("watch lacks %q:\n%s", w, stdout)
		}
	}
}
