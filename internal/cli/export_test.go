package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx"

	"github.com/natssl/natssl/experiments"
)

// exportLine is what natssl export --json prints on its last line.
type exportLine struct {
	Path             string  `json:"path"`
	Format           string  `json:"format"`
	SHA256           string  `json:"sha256"`
	Bytes            int64   `json:"bytes"`
	Checkpoint       string  `json:"checkpoint"`
	CheckpointStep   int64   `json:"checkpoint_step"`
	CheckpointSHA256 string  `json:"checkpoint_sha256"`
	RunID            string  `json:"run_id"`
	RunName          string  `json:"run_name"`
	ImageSize        int     `json:"image_size"`
	WithHead         bool    `json:"with_head"`
	FeaturesDim      int     `json:"features_dim"`
	ProjectionDim    int     `json:"projection_dim"`
	Params           int64   `json:"params"`
	MFLOPs           float64 `json:"mflops"`
	Recorded         bool    `json:"recorded"`
}

// exportCLI runs natssl export with args and --json, and returns its JSON line and stderr.
func exportCLI(t *testing.T, args ...string) (exportLine, string) {
	t.Helper()
	code, stdout, stderr := runCLI(t, append([]string{"export", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("export %v: exit %d: %s", args, code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var res exportLine
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("last line is not JSON: %v\n%s", err, stdout)
	}
	return res, stderr
}

// fileSHA256 is the hex SHA-256 of a file's content.
func fileSHA256(t *testing.T, path string) (string, int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), int64(len(b))
}

// TestExport trains the smoke preset for a few steps, exports its encoder by run and by
// checkpoint, and checks the files against the tracker's rows, natssl runs show and the
// report's efficiency and exports tables; then exports the tracker cannot record, the requests
// it refuses, a write that fails half-way, and a torn latest checkpoint.
func TestExport(t *testing.T) {
	dir := t.TempDir()
	// Width 8: an ONNX file of about 100 kB, larger than the file size limit of the half-way test.
	if code, _, stderr := runCLI(t, smokeTrainArgs(dir, "--set", "model.width=8")...); code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	ctx := context.Background()
	db := openTracker(t, dir)
	runs, err := db.ListRuns(ctx, experiments.ListOptions{})
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs %v, %v", runs, err)
	}
	id := runs[0].ID
	cks, err := db.Checkpoints(ctx, id)
	if err != nil || len(cks) != 2 {
		t.Fatalf("checkpoints %+v, %v", cks, err)
	}
	dbFlag := []string{"--db", filepath.Join(dir, "runs.db")}
	// The smoke preset's run.out_dir is not the run's: the checkpoints' folder decides.
	runDir := filepath.Join(dir, "runs", id)

	t.Run("run, default output", func(t *testing.T) {
		res, _ := exportCLI(t, append(dbFlag, "--config", "smoke", "--run", id[:7], "--format", "onnx")...)
		want := filepath.Join(runDir, "exports", "step-6.onnx")
		sum, n := fileSHA256(t, want)
		if res.Path != want || res.SHA256 != sum || res.Bytes != n || res.Format != "onnx" || !res.Recorded {
			t.Errorf("result %+v; file %s has sha256 %s, %d bytes", res, want, sum, n)
		}
		if res.RunID != id || res.RunName != "smoke" || res.CheckpointStep != 6 || res.CheckpointSHA256 != cks[1].SHA256 ||
			res.Checkpoint != cks[1].Path {
			t.Errorf("result %+v: want run %s (smoke), checkpoint %+v", res, id, cks[1])
		}
		// The eval size of the run's config (eval.image_size 32), not its training size (16).
		if res.ImageSize != 32 || res.FeaturesDim != 64 || res.WithHead || res.Params == 0 || res.MFLOPs == 0 {
			t.Errorf("result %+v", res)
		}
		b, _ := os.ReadFile(want)
		mp, err := gonnx.ModelProtoFromBytes(b)
		if err != nil {
			t.Fatal(err)
		}
		meta := map[string]string{}
		for _, p := range mp.MetadataProps {
			meta[p.Key] = p.Value
		}
		if meta["natssl_version"] != version || meta["run_name"] != "smoke" || meta["run_id"] != id || meta["step"] != "6" {
			t.Errorf("ONNX metadata %v", meta)
		}
	})

	other := filepath.Join(t.TempDir(), "encoder.safetensors")
	t.Run("checkpoint, head, size", func(t *testing.T) {
		res, _ := exportCLI(t, append(dbFlag, "--checkpoint", cks[0].Path, "--out", other, "--with-head", "--image-size", "24")...)
		sum, n := fileSHA256(t, other)
		if res.Path != other || res.SHA256 != sum || res.Bytes != n || res.Format != "safetensors" || !res.Recorded ||
			res.RunID != id || res.CheckpointStep != 3 || res.CheckpointSHA256 != cks[0].SHA256 ||
			!res.WithHead || res.ProjectionDim != 16 || res.ImageSize != 24 {
			t.Errorf("result %+v; file has sha256 %s, %d bytes", res, sum, n)
		}
	})

	t.Run("tracker rows", func(t *testing.T) {
		got, err := db.Exports(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("exports %+v, want 2", got)
		}
		onnx, st := got[0], got[1]
		onnxSum, onnxBytes := fileSHA256(t, filepath.Join(runDir, "exports", "step-6.onnx"))
		stSum, stBytes := fileSHA256(t, other)
		if onnx.Path != filepath.Join(runDir, "exports", "step-6.onnx") || onnx.Format != "onnx" || onnx.SHA256 != onnxSum ||
			onnx.Bytes != onnxBytes || onnx.CheckpointStep != 6 || onnx.CheckpointSHA256 != cks[1].SHA256 ||
			onnx.ImageSize != 32 || onnx.WithHead || onnx.Version != version || onnx.Params == 0 || onnx.MFLOPs == 0 {
			t.Errorf("onnx row %+v", onnx)
		}
		if st.Path != other || st.Format != "safetensors" || st.SHA256 != stSum || st.Bytes != stBytes ||
			st.CheckpointStep != 3 || st.CheckpointSHA256 != cks[0].SHA256 || st.ImageSize != 24 || !st.WithHead ||
			st.Params <= onnx.Params {
			t.Errorf("safetensors row %+v (the head adds parameters to the onnx row's %d)", st, onnx.Params)
		}
	})

	t.Run("runs show", func(t *testing.T) {
		code, stdout, stderr := runCLI(t, append(dbFlag, "runs", "show", id[:8])...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		for _, w := range []string{"exports:", "step-6.onnx", "encoder.safetensors", "24px", "yes"} {
			if !strings.Contains(stdout, w) {
				t.Errorf("runs show lacks %q:\n%s", w, stdout)
			}
		}
		code, stdout, stderr = runCLI(t, append(dbFlag, "runs", "show", id, "--json")...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		var rec struct {
			Exports []struct {
				Path           string `json:"path"`
				Format         string `json:"format"`
				CheckpointStep int64  `json:"checkpoint_step"`
				WithHead       bool   `json:"with_head"`
			} `json:"exports"`
		}
		if err := json.Unmarshal([]byte(stdout), &rec); err != nil {
			t.Fatal(err)
		}
		if len(rec.Exports) != 2 || rec.Exports[0].Format != "onnx" || rec.Exports[1].Path != other ||
			rec.Exports[1].CheckpointStep != 3 || !rec.Exports[1].WithHead {
			t.Errorf("runs show --json exports %+v", rec.Exports)
		}
	})

	t.Run("report", func(t *testing.T) {
		code, stdout, stderr := runCLI(t, append(dbFlag, "report", id[:8])...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		rows, err := db.Exports(ctx, id)
		if err != nil || len(rows) != 2 {
			t.Fatalf("exports %v, %v", rows, err)
		}
		onnx, st := rows[0], rows[1]
		// The cost the report computes from the run's params is the one the ONNX export (at the
		// eval size, without the head) recorded.
		for _, w := range []string{
			fmt.Sprintf("| smoke | convnet-small w8 | 32 px | %s | %.1f | onnx %s; safetensors %s (with head) | not evaluated |",
				commas(onnx.Params), onnx.MFLOPs, commas(onnx.Bytes), commas(st.Bytes)),
			fmt.Sprintf("| smoke | safetensors | 3 | 24 px | yes | %s | %.12s | %s |", commas(st.Bytes), st.SHA256, st.Path),
		} {
			if !strings.Contains(stdout, w) {
				t.Errorf("report lacks %q:\n%s", w, stdout)
			}
		}
	})

	t.Run("not recorded", func(t *testing.T) {
		// No tracker: the export is written (the default name says what differs from the
		// plain export) and not recorded, and no tracker is created.
		none := filepath.Join(t.TempDir(), "none", "runs.db")
		res, stderr := exportCLI(t, "--db", none, "--checkpoint", cks[0].Path, "--format", "safetensors", "--with-head", "--image-size", "24")
		want := filepath.Join(runDir, "exports", "step-3-head-24px.safetensors")
		if res.Path != want || res.Recorded || !strings.Contains(stderr, "export not recorded: no tracker at "+none) {
			t.Errorf("result %+v, stderr %q; want %s, not recorded", res, stderr, want)
		}
		if _, err := os.Stat(filepath.Dir(none)); !os.IsNotExist(err) {
			t.Errorf("a tracker was created: %v", err)
		}
		// A tracker that does not know the run.
		empty := filepath.Join(t.TempDir(), "empty.db")
		edb, err := experiments.Open(ctx, empty)
		if err != nil {
			t.Fatal(err)
		}
		edb.Close()
		res, stderr = exportCLI(t, "--db", empty, "--checkpoint", cks[1].Path, "--out", filepath.Join(t.TempDir(), "m.onnx"))
		if res.Recorded || !strings.Contains(stderr, "export not recorded: run "+id+" is not in the tracker "+empty) {
			t.Errorf("result %+v, stderr %q", res, stderr)
		}
	})

	outDir := t.TempDir()
	existing := filepath.Join(outDir, "kept.onnx")
	// unchanged checks that a refused or failed export left the output as it was, and nothing else.
	unchanged := func(t *testing.T) {
		t.Helper()
		if b, _ := os.ReadFile(existing); string(b) != "the previous export" {
			t.Errorf("%s now holds %d bytes", existing, len(b))
		}
		if ents, _ := os.ReadDir(outDir); len(ents) != 2 { // kept.onnx and the folder below
			t.Errorf("%s holds %d entries, want 2", outDir, len(ents))
		}
		if got, _ := db.Exports(ctx, id); len(got) != 2 {
			t.Errorf("%d exports recorded, want 2", len(got))
		}
	}
	if err := os.WriteFile(existing, []byte("the previous export"), 0o644); err != nil {
		t.Fatal(err)
	}
	folder := filepath.Join(outDir, "a-folder.onnx")
	if err := os.Mkdir(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	torn := filepath.Join(t.TempDir(), "torn.ckpt")
	good, err := os.ReadFile(cks[1].Path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(torn, good[:len(good)/2], 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("refused", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			args []string
			code int
			want string
		}{
			{"nothing to export", []string{"--format", "onnx", "--out", existing}, 2, "give exactly one of --run RUN_ID, --checkpoint PATH"},
			{"run and checkpoint", []string{"--run", id, "--checkpoint", cks[1].Path, "--out", existing}, 2, "give exactly one of"},
			{"no format", []string{"--run", id, "--out", filepath.Join(outDir, "m.bin")}, 2, "give --format onnx or safetensors"},
			{"unknown format", []string{"--run", id, "--format", "tflite", "--out", existing}, 2, `unknown format "tflite"`},
			{"format and extension differ", []string{"--run", id, "--format", "safetensors", "--out", existing}, 2, "names a onnx file, but --format is safetensors"},
			{"negative size", []string{"--run", id, "--out", existing, "--image-size", "-3"}, 2, "--image-size -3"},
			{"unknown flag", []string{"--run", id, "--out", existing, "--opset", "13"}, 2, "unknown flag: --opset"},
			{"unknown run", []string{"--run", "0000dead", "--out", existing}, 2, `run "0000dead"`},
			{"no tracker for a run", []string{"--run", id, "--out", existing, "--db", filepath.Join(outDir, "none.db")}, 1, "no experiment database"},
			{"missing checkpoint", []string{"--checkpoint", filepath.Join(outDir, "nope.ckpt"), "--out", existing}, 1, "nope.ckpt: no such file"},
			{"torn checkpoint", []string{"--checkpoint", torn, "--out", existing}, 1, "torn.ckpt: checksum mismatch"},
			{"output folder missing", []string{"--run", id, "--out", filepath.Join(outDir, "no-such", "m.onnx")}, 1, "output folder " + filepath.Join(outDir, "no-such")},
			{"output is a folder", []string{"--run", id, "--out", folder}, 1, "a-folder.onnx is a folder"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				args := append([]string{"export"}, tc.args...)
				if !strings.Contains(strings.Join(tc.args, " "), "--db") {
					args = append(args, dbFlag...)
				}
				code, stdout, stderr := runCLI(t, args...)
				if code != tc.code || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 || stdout != "" {
					t.Errorf("exit %d, stderr %q, stdout %q; want %d and one line with %q", code, stderr, stdout, tc.code, tc.want)
				}
				unchanged(t)
			})
		}
	})

	t.Run("write fails half-way", func(t *testing.T) {
		prlimit, err := exec.LookPath("prlimit")
		if err != nil {
			t.Fatal("no prlimit (Debian's util-linux) to limit the file size")
		}
		// natssl in a child process that may write no file past 64 KiB: the export (about
		// 100 kB) fails part-way through writing, with EFBIG (Go ignores SIGXFSZ).
		args, _ := json.Marshal(append([]string{"export", "--run", id, "--out", existing}, dbFlag...))
		cmd := exec.Command(prlimit, "--fsize=65536", os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "GO_TEST_NATSSL_CHILD_ARGS="+string(args))
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "file too large") ||
			strings.Count(string(out), "\n") != 1 {
			t.Fatalf("child: %v, output %q; want exit 1 and one line saying the file is too large", err, out)
		}
		unchanged(t)
	})

	t.Run("torn latest checkpoint", func(t *testing.T) {
		// A crash tore the run's newest checkpoint: --run takes the one before, and says so.
		if err := os.WriteFile(cks[1].Path, good[:len(good)/2], 0o600); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "m.onnx")
		res, stderr := exportCLI(t, append(dbFlag, "--run", id, "--out", out)...)
		if res.CheckpointStep != 3 || res.Checkpoint != cks[0].Path || !strings.Contains(stderr, "skipping checkpoint "+cks[1].Path) {
			t.Errorf("result %+v, stderr %q; want step 3 and a notice naming the torn file", res, stderr)
		}
	})

	t.Run("run by name", func(t *testing.T) {
		for _, ref := range []string{"smoke", "smoke@1", "latest"} {
			out := filepath.Join(t.TempDir(), "enc.safetensors")
			res, _ := exportCLI(t, append(dbFlag, "--config", "smoke", "--run", ref, "--out", out)...)
			if res.RunID != id || res.Path != out || !res.Recorded {
				t.Errorf("--run %s: result %+v, want run %s", ref, res, id)
			}
		}
	})
}

// commas writes n as the report does: thousands separated by commas.
func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
