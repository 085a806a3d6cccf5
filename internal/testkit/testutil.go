// Package testkit holds what the project's tests share: a log buffer
// several goroutines write to, an HTTP response writer that keeps a copy of
// what it passes on, waiting for a condition with a deadline, free
// loopback addresses, and the harness that builds the project's programs
// once per test binary and runs them.
//
// It is imported by tests only.
package testkit

import (
	"bytes"
	"net"
	"net/http"
	"sync"
	"testing"
)

// LockedBuffer collects what several goroutines write (a logger, a child
// process's output) while the test reads it.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String is everything written so far.
func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TeeWriter passes a response on to the client and keeps a copy of its
// status and body, for a handler in front of a test peer that records what
// the peer answered.
type TeeWriter struct {
	http.ResponseWriter
	Status int
	Body   bytes.Buffer
}

// NewTeeWriter wraps w; the status is 200 until the handler sets another.
func NewTeeWriter(w http.ResponseWriter) *TeeWriter {
	return &TeeWriter{ResponseWriter: w, Status: http.StatusOK}
}

// WriteHeader records the status and passes it on.
func (w *TeeWriter) WriteHeader(code int) {
	w.Status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *TeeWriter) Write(b []byte) (int, error) {
	w.Body.Write(b)
	return w.ResponseWriter.Write(b)
}

// FreeAddress is a loopback address nothing listens on right now, for a
// program that must be told its listen address.
func FreeAddress(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}
