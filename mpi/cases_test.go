package mpi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// caseEnv names the rank program a test binary runs instead of its tests: the tests start
// this very binary under mpirun with it set.
const caseEnv = "MPITEST_CASE"

func TestMain(m *testing.M) {
	if name := os.Getenv(caseEnv); name != "" {
		os.Exit(runCase(name))
	}
	code := m.Run()
	if world != nil { // benchmarks under mpirun (scripts/bench-mpi.sh)
		if err := world.Finalize(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// rankCases are the rank programs. Each prints "rank R: ..." lines for the test to read and
// returns an error to fail the job.
var rankCases = map[string]func(w *World) error{
	"world":       caseWorld,
	"collectives": caseCollectives,
	"sum":         caseSum,
	"fail":        caseFail,
	"exit":        func(w *World) error { return dieMidSum(w, 1, func() { os.Exit(1) }) },
	"exit0":       func(w *World) error { return dieMidSum(w, 1, func() { os.Exit(0) }) },
	"kill": func(w *World) error {
		return dieMidSum(w, 1, func() { syscall.Kill(os.Getpid(), syscall.SIGKILL) })
	},
	"kill0": func(w *World) error {
		return dieMidSum(w, 0, func() { syscall.Kill(os.Getpid(), syscall.SIGKILL) })
	},
	"failunheard": caseFailUnheard,
	"abort":       caseAbortWhileBlocked,
	"threads":     caseThreads,
	"wait":        caseWait,
	"vote":        caseVote,
}

func runCase(name string) int {
	f, ok := rankCases[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "no rank case %q\n", name)
		return 2
	}
	w, err := Init()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if err := f(w); err != nil {
		fmt.Printf("rank %d: FAIL %v\n", w.Rank(), err)
		return 1
	}
	if err := w.Finalize(); err != nil {
		fmt.Printf("rank %d: FAIL finalize: %v\n", w.Rank(), err)
		return 1
	}
	fmt.Printf("rank %d: ok\n", w.Rank())
	return 0
}

func say(w *World, format string, args ...any) {
	fmt.Printf("rank %d: "+format+"\n", append([]any{w.Rank()}, args...)...)
}

func caseWorld(w *World) error {
	if again, err := Init(); again != w || err != nil {
		return fmt.Errorf("second Init: %p, %v; want %p", again, err, w)
	}
	say(w, "size %d local %d/%d backend %s", w.Size(), w.LocalRank(), w.LocalSize(), Backend)
	// MPI must leave Go's own signal handling alone: a nil dereference is still a panic.
	var msg string
	func() {
		defer func() { msg = fmt.Sprint(recover()) }()
		var p *int
		*p = 1
	}()
	say(w, "recovered %s", msg)
	if err := w.Barrier(); err != nil {
		return err
	}
	if err := w.Finalize(); err != nil {
		return err
	}
	if err := w.Finalize(); err != nil {
		return fmt.Errorf("second Finalize: %v", err)
	}
	if err := w.Barrier(); !errors.Is(err, ErrFinalized) {
		return fmt.Errorf("Barrier after Finalize: %v, want ErrFinalized", err)
	}
	if _, err := Init(); !errors.Is(err, ErrFinalized) {
		return fmt.Errorf("Init after Finalize: %v, want ErrFinalized", err)
	}
	return nil
}

// detBytes are n bytes that every rank can make for itself.
func detBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	rng := rand.New(rand.NewPCG(seed, 7))
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func caseCollectives(w *World) error {
	for _, n := range []int{0, 1, 3<<20 + 7} {
		var mine []byte
		if w.Rank() == 0 {
			mine = detBytes(n, uint64(n))
		}
		got, err := w.Bcast(mine)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, detBytes(n, uint64(n))) {
			return fmt.Errorf("bcast of %d bytes: got %d bytes, not rank 0's", n, len(got))
		}
	}
	send := make([]float32, 5)
	for i := range send {
		send[i] = float32(w.Rank()*1000 + i)
	}
	recv := make([]float32, 5*w.Size())
	if err := w.Allgather(send, recv); err != nil {
		return err
	}
	for i, v := range recv {
		if want := float32(i/5*1000 + i%5); v != want {
			return fmt.Errorf("allgather: recv[%d] = %v, want %v", i, v, want)
		}
	}
	if err := w.Allgather(send, recv[1:]); err == nil {
		return errors.New("allgather into a short buffer: no error")
	}
	ints, err := w.AllgatherInt64([]int64{int64(w.Rank()), -1 << 40})
	if err != nil {
		return err
	}
	for r := range w.Size() {
		if ints[2*r] != int64(r) || ints[2*r+1] != -1<<40 {
			return fmt.Errorf("allgather of int64: %v", ints)
		}
	}
	for _, mine := range [][]byte{nil, []byte(strings.Repeat("x", w.Rank()*3+1))} {
		all, err := w.AllgatherBytes(mine)
		if err != nil {
			return err
		}
		for r, b := range all {
			want := ""
			if mine != nil {
				want = strings.Repeat("x", r*3+1)
			}
			if string(b) != want {
				return fmt.Errorf("allgather of bytes: rank %d's %q, want %q", r, b, want)
			}
		}
	}
	if err := w.Agree("config hash", []byte("abc")); err != nil {
		return err
	}
	hash := []byte("abc")
	if w.Rank() == 1 {
		hash = []byte("abd")
	}
	err = w.Agree("config hash", hash)
	if err == nil || !strings.Contains(err.Error(), "config hash differs from rank 0's on rank(s) [1]") {
		return fmt.Errorf("agree with rank 1 apart: %v", err)
	}
	say(w, "agree: %v", err)
	return nil
}

// rankData is rank r's contribution to a sum test: floats of magnitudes from 1e-3 to 1e3,
// so that the order of addition shows in the last bits.
func rankData(lens []int, seed uint64, r int) [][]float32 {
	scale := []float64{1e-3, 1e-2, 1e-1, 1, 1e1, 1e2, 1e3}
	rng := rand.New(rand.NewPCG(seed, uint64(r)))
	bufs := make([][]float32, len(lens))
	for i, n := range lens {
		bufs[i] = make([]float32, n)
		for j := range bufs[i] {
			bufs[i][j] = float32(rng.NormFloat64() * scale[rng.IntN(len(scale))])
		}
	}
	return bufs
}

// inOrder is the sum the trainer makes of its replicas' gradients: r0, then += r1, += r2 ...
func inOrder(all [][][]float32) [][]float32 {
	sum := make([][]float32, len(all[0]))
	for i := range sum {
		sum[i] = append([]float32(nil), all[0][i]...)
		for _, r := range all[1:] {
			for j, v := range r[i] {
				sum[i][j] += v
			}
		}
	}
	return sum
}

func caseSum(w *World) error {
	small, large := []int{0, 1, 7, 3, 64, 100}, []int{0, 1, 7, 1000, 12345, 3, 64}
	for _, tc := range []struct {
		lens   []int
		bucket int
	}{{small, 1}, {small, 5}, {small, 64}, {large, 1000}, {large, 5000}, {large, 0}} {
		if err := checkSum(w, tc.lens, tc.bucket); err != nil {
			return err
		}
	}
	// Data chosen to show the order: 1e8 + -1e8 + 1 is 1 in rank order, 0 when the last two go
	// first (-1e8 + 1 rounds to -1e8 in float32).
	chosen := []float32{1e8, -1e8, 1}
	x := []float32{0}
	if w.Rank() < len(chosen) {
		x[0] = chosen[w.Rank()]
	}
	if err := w.NewReducer(0).Sum(x); err != nil {
		return err
	}
	if w.Size() >= 3 {
		if x[0] != 1 || chosen[0]+(chosen[1]+chosen[2]) != 0 {
			return fmt.Errorf("sum of 1e8, -1e8, 1 in rank order: %v, want 1 (other order: %v)", x[0], chosen[0]+(chosen[1]+chosen[2]))
		}
	}
	// What the library's own MPI_Allreduce makes of the same kind of data (for the record),
	// small and large (Open MPI picks its algorithm by size).
	for _, n := range []int{13420, 1 << 20} {
		lib := make([][][]float32, w.Size())
		for r := range lib {
			lib[r] = rankData([]int{n}, 43, r)
		}
		ref := inOrder(lib)[0]
		x := lib[w.Rank()][0]
		if err := w.call(func() error { return w.c.allreduceUnordered(x) }); err != nil {
			return err
		}
		differ := 0
		for j := range x {
			if math.Float32bits(x[j]) != math.Float32bits(ref[j]) {
				differ++
			}
		}
		say(w, "MPI_Allreduce differs from the rank-order sum on %d of %d elements", differ, n)
	}
	return nil
}

// checkSum compares the Reducer's sum of rankData with the rank-order sum each rank makes of
// every rank's data.
func checkSum(w *World, lens []int, bucket int) error {
	all := make([][][]float32, w.Size())
	for r := range all {
		all[r] = rankData(lens, 42, r)
	}
	want := inOrder(all)
	// The last-to-first order, to show that the data tell orders apart.
	rev := make([][][]float32, len(all))
	for r := range all {
		rev[r] = all[len(all)-1-r]
	}
	other := inOrder(rev)
	differ, total := 0, 0
	for i := range want {
		for j := range want[i] {
			total++
			if math.Float32bits(want[i][j]) != math.Float32bits(other[i][j]) {
				differ++
			}
		}
	}
	mine := all[w.Rank()]
	if err := w.NewReducer(bucket).Sum(mine...); err != nil {
		return err
	}
	for i := range want {
		for j := range want[i] {
			if math.Float32bits(mine[i][j]) != math.Float32bits(want[i][j]) {
				return fmt.Errorf("bucket %d: buffer %d[%d] = %v, rank-order sum %v", bucket, i, j, mine[i][j], want[i][j])
			}
		}
	}
	say(w, "bucket %d: %d floats in rank order (the reverse order differs on %d)", bucket, total, differ)
	return nil
}

// dieMidSum all-reduces a buffer forever, or until die is due on rank dead (at the 20th round).
func dieMidSum(w *World, dead int, die func()) error {
	x := make([]float32, 1<<16)
	r := w.NewReducer(1 << 12)
	for i := 0; ; i++ {
		if w.Rank() == dead && i == 20 {
			say(w, "dying")
			die()
		}
		if err := r.Sum(x); err != nil {
			return err
		}
	}
}

func caseFail(w *World) error {
	x := make([]float32, 1<<16)
	r := w.NewReducer(1 << 12)
	for i := 0; ; i++ {
		if w.Rank() == 1 && i == 20 {
			w.Fail(3, errors.New("loader: shard 7: unexpected EOF"))
		}
		if err := r.Sum(x); err != nil {
			say(w, "saw %v", err)
			if err := r.Sum(x); err == nil { // the failure sticks
				return errors.New("a sum after a rank failed: no error")
			}
			w.Abort(4)
		}
	}
}

// caseFailUnheard: rank 1 fails while rank 0 makes no MPI call for a minute; rank 1 ends the
// job itself after the grace period (shortened to a second here).
func caseFailUnheard(w *World) error {
	if w.Rank() == 0 {
		time.Sleep(time.Minute)
		return errors.New("still alive after a minute")
	}
	failGrace = time.Second
	w.Fail(3, errors.New("loader: shard 7: unexpected EOF"))
	return nil
}

// caseAbortWhileBlocked: rank 0 aborts while another goroutine waits in a barrier that rank
// 1, asleep, never joins.
func caseAbortWhileBlocked(w *World) error {
	if w.Rank() != 0 {
		time.Sleep(time.Minute)
		return errors.New("still alive after a minute")
	}
	go w.Barrier()
	time.Sleep(300 * time.Millisecond)
	say(w, "aborting")
	w.Abort(5)
	return nil
}

// caseThreads makes every call from a fresh OS thread (a goroutine that locks its thread and
// ends without unlocking it takes the thread down): MPI_THREAD_SERIALIZED lets calls move
// between threads as goroutines do.
func caseThreads(w *World) error {
	tids := map[int]bool{}
	r := w.NewReducer(100)
	for i := range 20 {
		var err error
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			tids[syscall.Gettid()] = true
			x := make([]float32, 1000)
			for j := range x {
				x[j] = float32(w.Rank() + i + j)
			}
			if err = r.Sum(x); err != nil {
				return
			}
			for j, v := range x {
				if want := float32(w.Size()*(i+j) + w.Size()*(w.Size()-1)/2); v != want {
					err = fmt.Errorf("round %d: sum[%d] = %v, want %v", i, j, v, want)
					return
				}
			}
		}()
		wg.Wait()
		if err != nil {
			return err
		}
	}
	say(w, "calls from %d threads", len(tids))
	return nil
}

// caseWait measures what rank 0 spends waiting in a barrier for rank 1, late by 2 s: the CPU
// a rank takes from the loader's workers while its peers finish a step (scripts/bench-mpi.sh).
func caseWait(w *World) error {
	if w.Rank() == 1 {
		time.Sleep(2 * time.Second)
	}
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	start := time.Now()
	if err := w.Barrier(); err != nil {
		return err
	}
	took := time.Since(start)
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	if w.Rank() == 0 {
		say(w, "waited %.2f s for a late rank, using %.2f s of CPU", took.Seconds(), cpu.Seconds())
	}
	return nil
}

// caseVote: votes give the or of the ranks' answers; a goroutine votes while another is in
// the World's sums, in an order that differs between ranks (rank 0 votes first, the others
// sum first), which one communicator, or one lock held across waits, would deadlock; a vote
// that rank 0 alone starts is abandoned when its context ends, and Finalize drains it.
func caseVote(w *World) error {
	v, err := w.NewVote()
	if err != nil {
		return err
	}
	for i := range 2 * w.Size() {
		any, err := v.Any(context.Background(), i%w.Size() == w.Rank() && i < w.Size())
		if err != nil {
			return err
		}
		if any != (i < w.Size()) {
			return fmt.Errorf("vote %d: %v, want %v", i, any, i < w.Size())
		}
	}
	r := w.NewReducer(0)
	x := make([]float32, 1<<16)
	errs := make(chan error, 1)
	go func() {
		if w.Rank() != 0 {
			time.Sleep(200 * time.Millisecond) // rank 0 waits in its vote while it sums
		}
		for range 5 {
			if _, err := v.Any(context.Background(), false); err != nil {
				errs <- err
				return
			}
		}
		errs <- nil
	}()
	if w.Rank() == 0 {
		time.Sleep(100 * time.Millisecond)
	}
	for range 5 {
		if err := r.Sum(x); err != nil {
			return err
		}
	}
	if err := <-errs; err != nil {
		return err
	}
	if w.Rank() == 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		if _, err := v.Any(ctx, true); !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("a vote no other rank joins: %v, want the context's end", err)
		}
		if _, err := v.Any(context.Background(), true); err == nil {
			return errors.New("a vote after an abandoned one: no error")
		}
		say(w, "abandoned a vote")
	}
	return nil
}
