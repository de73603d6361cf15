package faultproxy

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// echo is a server that answers every connection's first byte with 1000 bytes and closes.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				c.Read(make([]byte, 1))
				c.Write(bytes.Repeat([]byte{'x'}, 1000))
				c.Close()
			}()
		}
	}()
	return ln.Addr().String()
}

func fetch(addr string) (int, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.Write([]byte("?"))
	c.SetDeadline(time.Now().Add(300 * time.Millisecond))
	b, err := io.ReadAll(c)
	return len(b), err
}

func TestModes(t *testing.T) {
	p, err := Start(echo(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.SetCutAfter(100)
	for _, tt := range []struct {
		mode Mode
		n    int
		ok   bool
	}{{Pass, 1000, true}, {Reset, 0, false}, {Stall, 0, false}, {Cut, 100, false}, {Pass, 1000, true}} {
		p.Set(tt.mode)
		n, err := fetch(p.Addr())
		if n != tt.n || (err == nil) != tt.ok {
			t.Errorf("%v: read %d bytes, %v; want %d, ok %v", tt.mode, n, err, tt.n, tt.ok)
		}
	}
	p.SetResetRate(1)
	if n, err := fetch(p.Addr()); n != 0 || err == nil {
		t.Errorf("reset rate 1: read %d, %v", n, err)
	}
	if p.Resets.Load() != 2 || p.Stalls.Load() != 1 || p.Cuts.Load() != 1 {
		t.Errorf("counted %d resets, %d stalls, %d cuts", p.Resets.Load(), p.Stalls.Load(), p.Cuts.Load())
	}
}
