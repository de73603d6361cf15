package sagemaker

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	_ "github.com/mattn/go-sqlite3" // the tracker's driver, for the database copy

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/internal/atomicfile"
)

// Names of the model artefacts, inside the model folder (model.tar.gz on S3).
const (
	ModelCheckpoint = "final.ckpt"  // the final training checkpoint: natssl eval --checkpoint final.ckpt
	ModelConfig     = "config.yaml" // the resolved config the job ran
	ModelDB         = "natssl.db"   // a consistent copy of the tracker database
)

// maxFailure bounds the failure file; SageMaker keeps only its first 1,024 characters.
const maxFailure = 16 << 10

// WriteFailure writes cause as one paragraph to the job's failure file, so that the job's
// FailureReason says why it failed. The start of the message matters most: SageMaker keeps
// its first 1,024 characters.
func (j *Job) WriteFailure(cause error) error {
	msg := Paragraph(cause.Error())
	if len(msg) > maxFailure {
		msg = msg[:maxFailure]
	}
	if err := os.MkdirAll(filepath.Dir(j.FailurePath()), 0o755); err != nil {
		return fmt.Errorf("sagemaker: write failure: %w", err)
	}
	if err := atomicfile.WriteFile(j.FailurePath(), []byte(msg+"\n"), 0o644); err != nil {
		return fmt.Errorf("sagemaker: write failure: %w", err)
	}
	return nil
}

// Paragraph joins a multi-line message (configs reports one problem a line) into one line.
func Paragraph(msg string) string {
	var parts []string
	for _, l := range strings.Split(msg, "\n") {
		if l = strings.Join(strings.Fields(l), " "); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, "; ")
}

// ExportModel fills the model folder, which SageMaker uploads when the job ends: the final
// checkpoint (copied), the resolved config, and a copy of the tracker database made by SQLite
// itself (VACUUM INTO), because a raw copy of a database in WAL mode can miss committed pages.
// checkpoint or db may be "" when there is none.
func (j *Job) ExportModel(ctx context.Context, cfg *configs.Config, checkpoint, db string) error {
	dir := j.ModelDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("sagemaker: export model: %w", err)
	}
	if checkpoint != "" {
		if err := copyFile(checkpoint, filepath.Join(dir, ModelCheckpoint)); err != nil {
			return fmt.Errorf("sagemaker: export model: %w", err)
		}
	}
	y, err := cfg.YAML()
	if err != nil {
		return fmt.Errorf("sagemaker: export model: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, ModelConfig), y, 0o644); err != nil {
		return fmt.Errorf("sagemaker: export model: %w", err)
	}
	if db != "" {
		if err := BackupDB(ctx, db, filepath.Join(dir, ModelDB)); err != nil {
			return err
		}
	}
	return nil
}

// BackupDB writes a consistent copy of the SQLite database at src to dst (replaced if present),
// including what is still in src's write-ahead log.
func BackupDB(ctx context.Context, src, dst string) error {
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("sagemaker: back up database %s: %w", src, err)
	}
	// mode=ro: the copy must never create or change the source.
	h, err := sql.Open("sqlite3", "file:"+(&url.URL{Path: src}).EscapedPath()+"?mode=ro&_busy_timeout=10000")
	if err != nil {
		return fmt.Errorf("sagemaker: back up database %s: %w", src, err)
	}
	defer h.Close()
	// VACUUM INTO writes into an empty file by name: the temporary file of the atomic write.
	out, err := atomicfile.Create(dst, 0o644)
	if err != nil {
		return fmt.Errorf("sagemaker: back up database %s: %w", src, err)
	}
	defer out.Cleanup()
	if _, err := h.ExecContext(ctx, "VACUUM INTO ?", out.Name()); err != nil {
		return fmt.Errorf("sagemaker: back up database %s to %s: %w", src, dst, err)
	}
	if err := out.Commit(); err != nil {
		return fmt.Errorf("sagemaker: back up database %s to %s: %w", src, dst, err)
	}
	return nil
}

// CheckDB reports whether the SQLite database at path is usable: nil when it passes
// PRAGMA quick_check or does not exist. SageMaker uploads the checkpoint folder file by file
// while the job runs, so a database restored after a spot interruption can be torn.
func CheckDB(ctx context.Context, path string) error {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	// mode=rw: never create the file; recovery of the write-ahead log runs as on any open.
	h, err := sql.Open("sqlite3", "file:"+(&url.URL{Path: path}).EscapedPath()+"?mode=rw&_busy_timeout=10000")
	if err != nil {
		return fmt.Errorf("sagemaker: check database %s: %w", path, err)
	}
	defer h.Close()
	var res string
	if err := h.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&res); err != nil {
		return fmt.Errorf("sagemaker: check database %s: %w", path, err)
	}
	if res != "ok" {
		return fmt.Errorf("sagemaker: check database %s: %s", path, res)
	}
	return nil
}

// MoveAside renames a database and its -wal and -shm files to <path>.<suffix>[-wal|-shm],
// keeping them for inspection, and returns the new path.
func MoveAside(path, suffix string) (string, error) {
	aside := path + "." + suffix
	for _, ext := range []string{"", "-wal", "-shm"} {
		if err := os.Rename(path+ext, aside+ext); err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("sagemaker: move database %s aside: %w", path, err)
		}
	}
	return aside, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	defer in.Close()
	out, err := atomicfile.Create(dst, 0o644)
	if err != nil {
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	defer out.Cleanup()
	if _, err := io.Copy(out, in); err != nil {
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	if err := out.Commit(); err != nil {
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	return nil
}
