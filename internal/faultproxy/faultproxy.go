package faultproxy

import (
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Mode is what the proxy does with connections.
type Mode int32

const (
	Pass  Mode = iota // forward both ways
	Reset             // reset every connection at once (the server is down)
	Stall             // accept, read, never answer
	Cut               // forward, then reset once CutAfter bytes of the answer have passed
	Hold              // forward, then go silent once CutAfter bytes of the answer have passed
)

func (m Mode) String() string {
	return [...]string{"pass", "reset", "stall", "cut", "hold"}[m]
}

// Proxy forwards connections from a loopback port to a target address, with faults.
type Proxy struct {
	ln     net.Listener
	target string

	mode     atomic.Int32
	cutAfter atomic.Int64
	rate     atomic.Uint64 // reset probability × 2^32, in Pass mode

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	rnd    *rand.Rand
	wg     sync.WaitGroup
	closed chan struct{}

	// Counters of what happened, for reports.
	Accepted, Resets, Stalls, Cuts atomic.Int64
}

// Start listens on 127.0.0.1 and forwards to target ("127.0.0.1:PORT").
func Start(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}, rnd: rand.New(rand.NewPCG(1, 2)), closed: make(chan struct{})}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Addr is the proxy's "127.0.0.1:PORT".
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL is the proxy as an HTTP endpoint.
func (p *Proxy) URL() string { return "http://" + p.Addr() }

// Set changes the mode. Leaving Pass resets the connections open now, so that an outage also
// reaches kept-alive connections.
func (p *Proxy) Set(m Mode) {
	p.mode.Store(int32(m))
	if m != Pass {
		p.dropAll()
	}
}

// Mode returns the current mode.
func (p *Proxy) Mode() Mode { return Mode(p.mode.Load()) }

// SetCutAfter sets how many bytes of an answer pass in Cut mode before the reset.
func (p *Proxy) SetCutAfter(n int64) { p.cutAfter.Store(n) }

// SetResetRate makes Pass mode reset each new connection with probability r (0 to 1).
func (p *Proxy) SetResetRate(r float64) { p.rate.Store(uint64(r * (1 << 32))) }

// Close stops the proxy and resets its connections.
func (p *Proxy) Close() error {
	close(p.closed)
	err := p.ln.Close()
	p.dropAll()
	p.wg.Wait()
	return err
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.Accepted.Add(1)
		p.wg.Add(1)
		go func() { defer p.wg.Done(); p.handle(c) }()
	}
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.closed:
		return false
	default:
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

func (p *Proxy) dropAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		reset(c)
	}
}

// reset closes c with a TCP RST rather than a FIN.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

func (p *Proxy) roll() bool {
	r := p.rate.Load()
	if r == 0 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rnd.Uint64()>>32 < r
}

func (p *Proxy) handle(c net.Conn) {
	if !p.track(c) {
		reset(c)
		return
	}
	defer p.untrack(c)
	mode := p.Mode()
	if mode == Pass && p.roll() {
		mode = Reset
	}
	switch mode {
	case Reset:
		p.Resets.Add(1)
		reset(c)
		return
	case Stall:
		p.Stalls.Add(1)
		io.Copy(io.Discard, c) // until the client gives up or the mode changes (dropAll)
		reset(c)
		return
	}
	s, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		reset(c)
		return
	}
	if !p.track(s) {
		reset(s)
		reset(c)
		return
	}
	defer p.untrack(s)
	done := make(chan struct{}, 2)
	go func() { io.Copy(s, c); closeWrite(s); done <- struct{}{} }()
	go func() {
		var dst io.Writer = c
		if mode == Cut || mode == Hold {
			dst = &cutWriter{w: c, left: p.cutAfter.Load()}
		}
		_, err := io.Copy(dst, s)
		switch {
		case errors.Is(err, errCut) && mode == Hold:
			p.Stalls.Add(1)
			io.Copy(io.Discard, s) // the rest of the answer goes nowhere; the client waits
			reset(c)
		case errors.Is(err, errCut):
			p.Cuts.Add(1)
			reset(c)
			reset(s)
		default:
			closeWrite(c)
		}
		done <- struct{}{}
	}()
	<-done
	<-done
	c.Close()
	s.Close()
}

// closeWrite ends one direction of a connection normally (a FIN), as the other side did.
func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
}

var errCut = errors.New("faultproxy: cut")

// cutWriter passes left bytes, then fails.
type cutWriter struct {
	w    io.Writer
	left int64
}

func (w *cutWriter) Write(b []byte) (int, error) {
	if w.left <= 0 {
		return 0, errCut
	}
	if int64(len(b)) > w.left {
		n, _ := w.w.Write(b[:w.left])
		w.left = 0
		return n, errCut
	}
	n, err := w.w.Write(b)
	w.left -= int64(n)
	return n, err
}
