//go:build faults

package faults

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/internal/faultproxy"
	"github.com/natssl/natssl/sagemaker/mototest"
	"github.com/natssl/natssl/trainer"
)

// row is one line of the campaign's table: faults tried, how many the program survived
// (nothing lost, the run ends as an undisturbed one does), and what was lost.
type row struct {
	name            string
	tried, survived int
	lost            string
}

// TestCampaign runs the campaign's cases against the natssl binary (FAULTS_NATSSL, else one
// built here with the tags of FAULTS_TAGS; not NATSSL_*, which natssl reads as config) and
// prints the table.
func TestCampaign(t *testing.T) {
	bin := natsslBinary(t)
	data := smokeCopy(t)
	c := &campaign{bin: bin, data: data}
	t.Run("kill", c.kills)
	t.Run("bad files", c.badFiles)
	t.Run("s3 outage", c.s3Outages)
	t.Run("full disk", c.fullDisks)
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-46s %6s %9s  %s\n", "case", "tried", "survived", "lost")
	for _, r := range c.rows {
		fmt.Fprintf(&b, "%-46s %6d %9d  %s\n", r.name, r.tried, r.survived, r.lost)
	}
	fmt.Print(b.String())
}

type campaign struct {
	bin  string
	data string
	rows []row
}

func natsslBinary(t *testing.T) string {
	if b := os.Getenv("FAULTS_NATSSL"); b != "" {
		return b
	}
	out := filepath.Join(t.TempDir(), "natssl")
	cmd := exec.Command("go", "build", "-tags", os.Getenv("FAULTS_TAGS"), "-o", out, "./cmd/natssl")
	cmd.Dir = "../.."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

// smokeCopy is the repository's 56 smoke images in a folder of the test's.
func smokeCopy(t *testing.T) string {
	dir := filepath.Join(t.TempDir(), "train")
	if out, err := exec.Command("cp", "-r", "../../configs/smoke/train", dir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	return dir
}

// args is natssl train on the smoke recipe, made quick, in dir.
func (c *campaign) args(dir string, extra ...string) []string {
	a := []string{"train", "--config", "smoke", "--db", filepath.Join(dir, "runs.db"), "--json",
		"--set", "run.out_dir=" + filepath.Join(dir, "runs"), "--set", "data.source=" + c.data,
		"--set", "data.image_size=16", "--set", "model.width=4", "--set", "train.log_every=1",
		"--set", "train.time_limit=0", "--set", "train.keep_checkpoints=3"}
	return append(a, extra...)
}

// result is how one natssl process ended.
type result struct {
	code   int
	loss   float64
	steps  int64
	stderr string
}

// run runs natssl to its end (or timeout).
func (c *campaign) run(timeout time.Duration, args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return finish(err, out.String(), errb.String())
}

func finish(err error, stdout, stderr string) result {
	r := result{stderr: stderr}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		r.code = -1
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var js struct {
		Loss  float64 `json:"loss"`
		Steps int64   `json:"steps"`
	}
	if json.Unmarshal([]byte(lines[len(lines)-1]), &js) == nil {
		r.loss, r.steps = js.Loss, js.Steps
	}
	return r
}

// reference runs args undisturbed in a fresh folder and returns its final loss.
func (c *campaign) reference(t *testing.T, args func(dir string) []string) float64 {
	r := c.run(5*time.Minute, args(t.TempDir())...)
	if r.code != 0 {
		t.Fatalf("reference run: exit %d: %s", r.code, r.stderr)
	}
	return r.loss
}

// state is what the tracker and the checkpoint folder of dir's one run say.
type state struct {
	run      *experiments.RunInfo
	runs     int
	ckptStep int64   // the newest checkpoint that verifies; 0 when none
	missing  []int64 // steps up to ckptStep without a loss
	temps    int     // temporary checkpoint files
	unrecord int     // checkpoint files the tracker does not record
	skipped  float64 // samples skipped (the loader's counter at the last log)
	shards   float64 // shards and objects skipped as unreadable
}

func (c *campaign) inspect(dir string) (state, error) {
	var s state
	ctx := context.Background()
	db, err := experiments.OpenExisting(ctx, filepath.Join(dir, "runs.db"))
	if err != nil {
		return s, err
	}
	defer db.Close()
	runs, err := db.ListRuns(ctx, experiments.ListOptions{})
	if err != nil {
		return s, err
	}
	s.runs = len(runs)
	if len(runs) == 0 {
		return s, nil
	}
	s.run = runs[len(runs)-1]
	s.skipped = s.run.Latest["skipped"].Value
	s.shards = s.run.Latest["skipped_unreadable_shard"].Value + s.run.Latest["skipped_unreadable"].Value
	ckdir := filepath.Join(dir, "runs", s.run.ID, "checkpoints")
	if ck, err := trainer.LatestCheckpoint(ckdir, nil); err == nil {
		s.ckptStep = ck.Header.Step
	}
	loss, err := db.MetricSeries(ctx, s.run.ID, "loss")
	if err != nil {
		return s, err
	}
	have := map[int64]bool{}
	for _, p := range loss {
		have[p.Step] = true
	}
	for step := int64(1); step <= s.ckptStep; step++ {
		if !have[step] {
			s.missing = append(s.missing, step)
		}
	}
	recs, err := db.Checkpoints(ctx, s.run.ID)
	if err != nil {
		return s, err
	}
	recorded := map[string]bool{}
	for _, r := range recs {
		recorded[r.Path] = true
	}
	ents, _ := os.ReadDir(ckdir)
	for _, e := range ents {
		switch p := filepath.Join(ckdir, e.Name()); {
		case strings.HasPrefix(e.Name(), ".step-"):
			s.temps++
		case strings.HasSuffix(e.Name(), ".ckpt") && !recorded[p]:
			s.unrecord++
		}
	}
	return s, nil
}

// kills: kill -9 at random moments, each followed by --resume auto, then the run to its end.
// A kill is survived when, after it, the tracker holds every step up to the newest checkpoint
// and no temporary file or unrecorded checkpoint is left once the next process has started;
// the whole sequence must end on the undisturbed run's loss.
func (c *campaign) kills(t *testing.T) {
	const kills = 20
	args := func(dir string) []string {
		return c.args(dir, "--resume", "auto", "--set", "train.steps=2000", "--set", "train.checkpoint_every=7")
	}
	want := c.reference(t, args)
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(21, 9))
	r := row{name: "kill -9 at random moments, --resume auto"}
	lost := map[int64]bool{}
	var end *result
	for r.tried < kills && end == nil {
		cmd := exec.Command(c.bin, args(dir)...)
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done: // it reached the last step before the kill
			res := finish(err, out.String(), errb.String())
			end = &res
			continue
		case <-time.After(time.Duration(50+rng.IntN(650)) * time.Millisecond):
		}
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
		r.tried++
		s, err := c.inspect(dir)
		if err != nil {
			t.Errorf("after kill %d: %v", r.tried, err)
			continue
		}
		for _, m := range s.missing {
			lost[m] = true
		}
		if len(s.missing) == 0 && s.runs <= 1 {
			r.survived++
		} else {
			t.Errorf("after kill %d: %d runs, steps without a loss %v", r.tried, s.runs, s.missing)
		}
	}
	if end == nil {
		res := c.run(5*time.Minute, args(dir)...)
		end = &res
	}
	s, err := c.inspect(dir)
	switch {
	case end.code != 0:
		t.Errorf("last resume: exit %d: %s", end.code, end.stderr)
		r.survived = 0
	case err != nil || s.runs != 1 || s.temps > 0 || s.unrecord > 0 || end.loss != want:
		t.Errorf("after the kills: %d runs, %d temporary files, %d unrecorded checkpoints, loss %v (undisturbed %v), %v",
			s.runs, s.temps, s.unrecord, end.loss, want, err)
		r.survived = 0
	}
	r.lost = fmt.Sprintf("%d steps; final loss %s", len(lost), same(end.loss, want))
	c.rows = append(c.rows, r)
}

func same(got, want float64) string {
	if got == want {
		return "bit-identical"
	}
	return fmt.Sprintf("%v, undisturbed %v", got, want)
}

// badFiles: zero-byte, truncated and non-image files, a FIFO and a link to /dev/zero named
// .jpg, and a file over data.max_image_bytes, mixed into the image folders. Each is survived
// when it is skipped and counted and training uses every good image.
func (c *campaign) badFiles(t *testing.T) {
	data := smokeCopy(t)
	classes, _ := filepath.Glob(filepath.Join(data, "*"))
	good, _ := os.ReadFile(firstJPEG(t, classes[0]))
	bad := 0
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(classes[bad%len(classes)], name), b, 0o644); err != nil {
			t.Fatal(err)
		}
		bad++
	}
	for i := range 4 {
		write(fmt.Sprintf("zero-%d.jpg", i), nil)
	}
	for i := range 3 {
		write(fmt.Sprintf("truncated-%d.jpg", i), good[:len(good)/(i+2)])
	}
	write("notes.jpg", []byte("a text file\n"))
	write("page.png", []byte("<html></html>"))
	write("huge.jpg", append([]byte{0xFF, 0xD8, 0xFF}, make([]byte, 3<<20)...))
	if err := syscall.Mkfifo(filepath.Join(classes[0], "fifo.jpg"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad++
	if err := os.Symlink("/dev/zero", filepath.Join(classes[1], "zero-device.jpg")); err != nil {
		t.Fatal(err)
	}
	bad++
	const epochs, batch, images = 3, 8, 56
	dir := t.TempDir()
	c2 := *c
	c2.data = data
	res := c2.run(2*time.Minute, c2.args(dir, "--set", "train.steps=0", fmt.Sprintf("--set=train.epochs=%d", epochs),
		fmt.Sprintf("--set=data.batch_size=%d", batch), "--set", "data.max_image_bytes=1048576")...)
	s, err := c.inspect(dir)
	r := row{name: "bad files among the images (3 epochs)", tried: bad}
	used := int(res.steps) * batch
	if res.code == 0 && err == nil && int(s.skipped) == epochs*bad {
		r.survived = bad
	} else {
		t.Errorf("exit %d, skipped %v (want %d), %v: %s", res.code, s.skipped, epochs*bad, err, res.stderr)
	}
	r.lost = fmt.Sprintf("%d of %d good images", epochs*images-used, epochs*images)
	if used != epochs*images {
		t.Errorf("trained on %d images, want every good one of %d epochs (%d)", used, epochs, epochs*images)
	}
	c.rows = append(c.rows, r)
}

func firstJPEG(t *testing.T, dir string) string {
	m, _ := filepath.Glob(filepath.Join(dir, "*.jpg"))
	if len(m) == 0 {
		t.Fatalf("no JPEG in %s", dir)
	}
	return m[0]
}

// s3Outages: training from moto_server through a fault proxy meets an outage shorter than
// data.s3.retry_for (waited out), one longer (the run stops with a checkpoint and is resumed
// once the store is back), and a flaky spell where most connections are reset. Each is
// survived when the run ends on the loss of a run that met no fault, nothing skipped.
func (c *campaign) s3Outages(t *testing.T) {
	url := mototest.Start(t)
	mototest.SetEnv(t)
	mototest.AWS(t, url, "s3", "mb", "s3://campaign")
	mototest.AWS(t, url, "s3", "cp", "--recursive", "--only-show-errors", c.data, "s3://campaign/train/")
	proxy, err := faultproxy.Start(strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	args := func(dir, endpoint, retryFor string, extra ...string) []string {
		return c.args(dir, append([]string{"--set", "data.source=s3://campaign/train", "--set", "data.s3.endpoint=" + endpoint,
			"--set", "data.s3.retry_for=" + retryFor, "--set", "train.steps=40", "--set", "train.checkpoint_every=10"}, extra...)...)
	}
	want := c.reference(t, func(dir string) []string { return args(dir, url, "1m") })
	r := row{name: "S3 outages (moto_server behind a fault proxy)"}
	lostShards := 0.0
	cases := []struct {
		name     string
		retryFor string
		fault    func()
		resume   bool // the run is expected to stop, and be resumed
	}{
		{"outage of 4s, retry_for 30s", "30s", func() {
			proxy.Set(faultproxy.Reset)
			time.Sleep(4 * time.Second)
			proxy.Set(faultproxy.Pass)
		}, false},
		{"outage of 8s, retry_for 2s", "2s", func() {
			proxy.Set(faultproxy.Reset)
			time.Sleep(8 * time.Second)
			proxy.Set(faultproxy.Pass)
		}, true},
		{"80% of connections reset for 4s", "30s", func() {
			proxy.SetResetRate(0.8)
			time.Sleep(4 * time.Second)
			proxy.SetResetRate(0)
		}, false},
	}
	for _, tc := range cases {
		r.tried++
		dir := t.TempDir()
		first := c.runWith(t, args(dir, proxy.URL(), tc.retryFor), "step 5/", tc.fault)
		end := first
		if tc.resume {
			if first.code != 1 || !strings.Contains(first.stderr, "storage unavailable") {
				t.Errorf("%s: exit %d, want 1 naming the unavailable storage: %s", tc.name, first.code, first.stderr)
				continue
			}
			end = c.run(2*time.Minute, args(dir, proxy.URL(), tc.retryFor, "--resume", "auto")...)
		}
		s, err := c.inspect(dir)
		if err == nil {
			lostShards += s.shards
		}
		if end.code == 0 && err == nil && end.loss == want && s.shards == 0 && s.runs == 1 {
			r.survived++
		} else {
			t.Errorf("%s: exit %d, loss %v (undisturbed %v), %v shards skipped, %d runs, %v: %s", tc.name, end.code, end.loss, want, s.shards, s.runs, err, end.stderr)
		}
	}
	r.lost = fmt.Sprintf("%.0f shards or objects skipped", lostShards)
	c.rows = append(c.rows, r)
}

// runWith runs natssl, calls fault once its stderr shows a line starting with mark, and waits
// for it to end.
func (c *campaign) runWith(t *testing.T, args []string, mark string, fault func()) result {
	cmd := exec.Command(c.bin, args...)
	var out strings.Builder
	cmd.Stdout = &out
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var errb strings.Builder
	sc := bufio.NewScanner(pipe)
	faulted := make(chan struct{})
	once := false
	for sc.Scan() {
		errb.WriteString(sc.Text() + "\n")
		if !once && strings.HasPrefix(sc.Text(), mark) {
			once = true
			go func() { fault(); close(faulted) }()
		}
	}
	err = cmd.Wait()
	if once {
		<-faulted
	}
	return finish(err, out.String(), errb.String())
}

// fullDisks: the tracker and the checkpoints on small tmpfs disks that fill up. Each is
// survived when the run stops with one line, is recorded FAILED, leaves no temporary file,
// keeps every step up to its last checkpoint, and, once room is made, resumes to the loss of
// a run that had room.
func (c *campaign) fullDisks(t *testing.T) {
	args := func(dir string, extra ...string) []string {
		return c.args(dir, append([]string{"--set", "train.steps=120", "--set", "train.checkpoint_every=2",
			"--set", "train.keep_checkpoints=1000", "--set", "model.width=12"}, extra...)...)
	}
	r := row{name: "full disk (tracker and checkpoints on a tmpfs)"}
	lost := 0
	want := -1.0
	for _, size := range []string{"2m", "3m", "5m"} {
		dir := t.TempDir()
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
			t.Skipf("cannot mount a tmpfs (run as root): %v: %s", err, out)
		}
		defer exec.Command("umount", dir).Run()
		if want < 0 {
			want = c.reference(t, func(d string) []string { return args(d) })
		}
		r.tried++
		first := c.run(2*time.Minute, args(dir)...)
		s, err := c.inspect(dir)
		lost += len(s.missing)
		errLine := lastLine(first.stderr)
		ok := first.code == 1 && err == nil && s.run != nil && s.run.Status == experiments.StatusFailed &&
			s.temps == 0 && len(s.missing) == 0 && strings.HasPrefix(errLine, "natssl: ")
		if !ok {
			t.Errorf("%s disk: exit %d, run %+v, %d temporary files, steps missing %v, %v; error line %q", size, first.code, s.run, s.temps, s.missing, err, errLine)
		}
		if out, err := exec.Command("mount", "-o", "remount,size=256m", dir).CombinedOutput(); err != nil {
			t.Fatalf("remount: %v: %s", err, out)
		}
		end := c.run(2*time.Minute, args(dir, "--resume", "auto")...)
		if ok && end.code == 0 && end.loss == want {
			r.survived++
		} else if ok {
			t.Errorf("%s disk, resumed with room: exit %d, loss %v (undisturbed %v): %s", size, end.code, end.loss, want, end.stderr)
		}
	}
	r.lost = fmt.Sprintf("%d steps", lost)
	c.rows = append(c.rows, r)
}

// lastLine is the last line of s that natssl wrote an error on.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
