package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/export"
	"github.com/natssl/natssl/trainer"
)

// ExportOptions say which encoder Export writes, in which format, and where.
type ExportOptions struct {
	DB string // the tracker database; "" means run.db of the config
	// What is exported, exactly one of: a run's latest checkpoint (an id or unique prefix; see
	// LatestCheckpoint); a checkpoint file.
	Run, Checkpoint string
	// Format is onnx or safetensors; "" takes the one Out's extension names.
	Format string
	// Out is the file written; "" means exports/step-<N>[-head][-<S>px].<ext> beside the
	// checkpoint's folder when that is natssl's <run.out_dir>/<run id>/checkpoints (so
	// <run.out_dir>/<run id>/exports/...), else inside the checkpoint's folder.
	Out       string
	WithHead  bool // add the projection head
	ImageSize int  // the input side; 0 means the run's eval.image_size (else data.image_size)
	Version   string
}

// ExportResult is a written export and whether the tracker recorded it.
type ExportResult struct {
	*export.Result
	RunName string // the run's name in the tracker
	// Recorded says the export is in the tracker's exports table against Result.RunID; when
	// not, NotRecorded says why (no tracker, a run the tracker does not know).
	Recorded    bool
	NotRecorded string
}

// Export writes the encoder of a checkpoint, or of a run's latest checkpoint, to a file other
// runtimes read, and records the file with the run in the tracker. The file is written
// atomically: a failed export leaves the output path as it was.
func Export(ctx context.Context, cfg *configs.Config, o ExportOptions, obs Observer) (*ExportResult, error) {
	obs = orDiscard(obs)
	format, err := o.resolve()
	if err != nil {
		return nil, err
	}
	path := dbPath(cfg, o.DB)
	var (
		db    *experiments.DB
		c     *trainer.Checkpoint
		runID string // the run to record the export with
		res   = &ExportResult{}
	)
	if o.Run != "" {
		if db, err = experiments.OpenExisting(ctx, path); err != nil {
			return nil, err
		}
		defer db.Close()
		if runID, err = db.ResolveRun(ctx, o.Run); err != nil {
			return nil, err
		}
		if c, err = LatestCheckpoint(ctx, db, cfg, runID, obs); err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
	} else {
		if c, err = trainer.ReadCheckpoint(o.Checkpoint); err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
		runID = c.Header.RunID
		switch db, err = experiments.OpenExisting(ctx, path); {
		case errors.Is(err, experiments.ErrNoDatabase):
			res.NotRecorded = "no tracker at " + path
		case err != nil:
			return nil, err
		default:
			defer db.Close()
		}
	}
	switch {
	case db == nil:
	case runID == "":
		res.NotRecorded = fmt.Sprintf("checkpoint %s names no run", c.Path)
	default:
		rec, err := db.GetRun(ctx, runID)
		if errors.Is(err, experiments.ErrNotFound) {
			res.NotRecorded = fmt.Sprintf("run %s is not in the tracker %s", runID, db.Path())
			break
		}
		if err != nil {
			return nil, err
		}
		res.RunName = rec.Name
	}
	out := o.Out
	if out == "" {
		if out, err = defaultExportPath(c, format, o.WithHead, o.ImageSize); err != nil {
			return nil, err
		}
	}
	var meta map[string]string
	if res.RunName != "" {
		meta = map[string]string{"run_name": res.RunName}
	}
	res.Result, err = export.ExportCheckpoint(ctx, c,
		export.Options{Format: format, WithHead: o.WithHead, ImageSize: o.ImageSize, Version: o.Version, Metadata: meta}, out)
	if err != nil {
		return nil, err
	}
	if res.NotRecorded != "" {
		obs.Notice("export not recorded: " + res.NotRecorded)
		return res, nil
	}
	r := res.Result
	if err := db.RecordExport(ctx, runID, experiments.Export{Path: absPath(r.Path), Format: string(r.Format),
		SHA256: r.SHA256, Bytes: r.Bytes, CheckpointStep: r.Step, CheckpointSHA256: r.CheckpointSHA256,
		ImageSize: r.ImageSize, WithHead: r.ProjDim > 0, Params: r.Cost.Params, MFLOPs: r.Cost.MFLOPs,
		Version: o.Version}); err != nil {
		return nil, fmt.Errorf("export: %s is written, but not recorded: %w", r.Path, err)
	}
	res.Recorded = true
	return res, nil
}

// resolve checks the options before any work and returns the format.
func (o *ExportOptions) resolve() (export.Format, error) {
	if (o.Run == "") == (o.Checkpoint == "") {
		return "", refuse("export: give exactly one of --run RUN_ID, --checkpoint PATH")
	}
	if o.ImageSize < 0 {
		return "", refuse("export: --image-size %d: want a positive side in pixels (0: the run's eval.image_size)", o.ImageSize)
	}
	named := formatOfPath(o.Out)
	if o.Format == "" {
		if named == "" {
			return "", refuse("export: give --format onnx or safetensors (or an --out FILE ending in .onnx or .safetensors)")
		}
		return named, nil
	}
	f, err := export.ParseFormat(o.Format)
	if err != nil {
		return "", &RequestError{Err: err}
	}
	if named != "" && named != f {
		return "", refuse("export: --out %s names a %s file, but --format is %s", o.Out, named, f)
	}
	return f, nil
}

// formatOfPath is the format a file name's extension names; "" for any other.
func formatOfPath(p string) export.Format {
	for _, f := range export.Formats {
		if strings.EqualFold(filepath.Ext(p), f.Ext()) {
			return f
		}
	}
	return ""
}

// defaultExportPath is where an export goes without --out: exports/step-<N>[-head][-<S>px].<ext>
// beside a checkpoints folder (natssl's <run.out_dir>/<run id>/checkpoints), else inside the
// checkpoint's folder. The folder is created; the name says what differs from the plain
// export, so that the variants of one checkpoint do not replace each other.
func defaultExportPath(c *trainer.Checkpoint, f export.Format, withHead bool, size int) (string, error) {
	dir := filepath.Dir(c.Path)
	if filepath.Base(dir) == "checkpoints" {
		dir = filepath.Dir(dir)
	}
	dir = filepath.Join(dir, "exports")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", fmt.Errorf("export: create %s: %w", dir, err)
	}
	name := fmt.Sprintf("step-%d", c.Header.Step)
	if withHead {
		name += "-head"
	}
	if size > 0 {
		name += fmt.Sprintf("-%dpx", size)
	}
	return filepath.Join(dir, name+f.Ext()), nil
}
