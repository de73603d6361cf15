package experiments

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/natssl/natssl/internal/regfile"
)

// Errors callers can test with errors.Is.
var (
	// ErrNotDatabase: the file exists but is not a SQLite database (or is corrupt).
	ErrNotDatabase = errors.New("not a SQLite database")
	// ErrForeignDatabase: a SQLite database, but one that some other program owns.
	ErrForeignDatabase = errors.New("a SQLite database, but not a natssl experiment database")
	// ErrNewerSchema: the database was written by a newer natssl; this one refuses to touch it.
	ErrNewerSchema = errors.New("database schema is newer than this natssl understands")
	// ErrNoDatabase: OpenExisting was given a path where no database exists.
	ErrNoDatabase = errors.New("no experiment database")
	// ErrNotFound: no run has the given reference (id, prefix, name, NAME@K, latest).
	ErrNotFound = errors.New("no such run")
	// ErrAmbiguous: a reference (a run name or an id prefix, a sweep id prefix) names more than one.
	ErrAmbiguous = errors.New("ambiguous reference")
	// ErrNoSweep: no sweep has the given id or prefix.
	ErrNoSweep = errors.New("no such sweep")
)

// DefaultStaleAfter is how old a RUNNING run's heartbeat may be before the run is shown as stale.
const DefaultStaleAfter = 5 * time.Minute

// busyTimeout is how long a statement waits for another writer before failing with SQLITE_BUSY.
const busyTimeout = 30 * time.Second

// sqliteHeader starts every SQLite 3 database file.
var sqliteHeader = []byte("SQLite format 3\x00")

// DB is an open experiment database. It is safe for concurrent use.
type DB struct {
	sql  *sql.DB
	path string

	// StaleAfter is the heartbeat age after which a RUNNING run is reported as stale.
	StaleAfter time.Duration

	// now is the clock; tests replace it.
	now func() time.Time
}

// Open opens the experiment database at path, creating the file and its parent directory when
// missing, and migrates an older schema in place. A file that is not a SQLite database, a
// database of a newer schema, and a path that cannot be written are refused with a one-line
// error naming the path; the file is left as it was.
func Open(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("experiments: open: empty database path")
	}
	if err := checkHeader(path); err != nil {
		return nil, err
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("experiments: open %s: create directory: %w", path, unwrapPathError(err))
		}
	}
	if err := createPrivate(path); err != nil {
		return nil, err
	}
	db, err := open(ctx, path)
	if err != nil {
		return nil, err
	}
	db.keepReserve()
	return db, nil
}

// reserveBytes is disk space kept beside the database, in a file of its own (<db>-reserve),
// so that a run can still be marked FAILED or KILLED when the disk fills up: SQLite cannot
// write even a one-row update where no block is free, and removing the reserve frees some.
const reserveBytes = 64 << 10

func (db *DB) reservePath() string { return db.path + "-reserve" }

// keepReserve makes sure the reserve exists (a writer's Open recreates one a full disk used).
// It is best effort: on a disk already full there is nothing to reserve.
func (db *DB) keepReserve() {
	p := db.reservePath()
	if st, err := os.Stat(p); err == nil && st.Size() >= reserveBytes {
		return
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return
	}
	_, err = f.Write(make([]byte, reserveBytes)) // written, so that the blocks are allocated
	if cerr := f.Close(); err != nil || cerr != nil {
		os.Remove(p)
	}
}

// releaseReserve frees the reserve for a write that found the disk full; it reports whether
// there was one.
func (db *DB) releaseReserve() bool { return os.Remove(db.reservePath()) == nil }

// isFull reports whether err is SQLite's "database or disk is full".
func isFull(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.Code == sqlite3.ErrFull
}

// createPrivate creates a missing database file readable by its owner alone, as checkpoints
// are: it holds configs, command lines and paths. SQLite gives its -wal and -shm files the
// database file's mode. An existing file keeps the mode its owner chose.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("experiments: open %s: %w", path, unwrapPathError(err))
	}
	return f.Close()
}

// OpenExisting is Open for readers: when no database exists at path it fails with
// ErrNoDatabase (naming the path) instead of creating one.
func OpenExisting(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("experiments: open: empty database path")
	}
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("experiments: open %s: %w (run `natssl train` first, or pass --db)", path, ErrNoDatabase)
	}
	if err != nil {
		return nil, fmt.Errorf("experiments: open %s: %w", path, unwrapPathError(err))
	}
	if st.IsDir() {
		return nil, fmt.Errorf("experiments: open %s: is a directory, not a database file", path)
	}
	if err := checkHeader(path); err != nil {
		return nil, err
	}
	return open(ctx, path)
}

func open(ctx context.Context, path string) (*DB, error) {
	q := url.Values{}
	q.Set("_busy_timeout", fmt.Sprint(busyTimeout.Milliseconds()))
	q.Set("_foreign_keys", "on")
	q.Set("_synchronous", "NORMAL")
	q.Set("_cache_size", "-32768") // KiB: metric tables of long runs stay in cache
	// Write transactions take the write lock at BEGIN: two writers then queue on the busy
	// timeout instead of deadlocking when both try to upgrade a read lock.
	q.Set("_txlock", "immediate")
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	sdb, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("experiments: open %s: %w", path, err)
	}
	db := &DB{sql: sdb, path: path, StaleAfter: DefaultStaleAfter, now: time.Now}
	// WAL is set by migrate once the file is known to be ours: setting it in the DSN would
	// rewrite the header of someone else's database before we could refuse it.
	if err := db.migrate(ctx); err != nil {
		sdb.Close()
		return nil, err
	}
	return db, nil
}

// checkHeader refuses an existing, non-empty file that does not start like a SQLite database,
// before SQLite gets a chance to write a journal or WAL beside it.
func checkHeader(path string) error {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("experiments: open %s: is a directory, not a database file", path)
	}
	f, err := regfile.Open(path) // a FIFO or a device is refused at once, never waited on
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("experiments: open %s: %w", path, unwrapPathError(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("experiments: open %s: %w", path, unwrapPathError(err))
	}
	if st.IsDir() {
		return fmt.Errorf("experiments: open %s: is a directory, not a database file", path)
	}
	head := make([]byte, len(sqliteHeader))
	n, err := io.ReadFull(f, head)
	if n == 0 && (err == io.EOF || err == nil) {
		return nil // an empty file: SQLite treats it as a new database
	}
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("experiments: open %s: %w", path, unwrapPathError(err))
	}
	if !bytes.Equal(head[:n], sqliteHeader) || n < len(sqliteHeader) {
		return fmt.Errorf("experiments: open %s: %w", path, ErrNotDatabase)
	}
	return nil
}

// Path returns the database file's path.
func (db *DB) Path() string { return db.path }

// Close closes the database. Runs created from it must be finished (or abandoned) first.
func (db *DB) Close() error {
	if err := db.sql.Close(); err != nil {
		return fmt.Errorf("experiments: close %s: %w", db.path, err)
	}
	return nil
}

// wrap names the operation and the database in err, and turns SQLite's "not a database"
// into ErrNotDatabase.
func (db *DB) wrap(op string, err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) && (se.Code == sqlite3.ErrNotADB || se.Code == sqlite3.ErrCorrupt) {
		return fmt.Errorf("experiments: %s %s: %w (%v)", op, db.path, ErrNotDatabase, err)
	}
	return fmt.Errorf("experiments: %s %s: %w", op, db.path, err)
}

// unwrapPathError drops the *fs.PathError's own path and operation, which the caller's message
// already names, keeping the cause ("permission denied", "not a directory").
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// timeLayout is how times are stored: fixed width, sortable, and understood by SQLite's date
// functions.
const timeLayout = "2006-01-02T15:04:05.000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// parseTime reads a stored time; NULL and "" give the zero time.
func parseTime(s sql.NullString) time.Time {
	if !s.Valid || s.String == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s.String)
	if err != nil {
		return time.Time{}
	}
	return t
}
