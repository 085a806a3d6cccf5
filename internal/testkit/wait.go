package testkit

import (
	"testing"
	"time"
)

// WaitUntil checks cond every interval until it holds, and fails the test
// after timeout saying what it waited for. It waits on the wall clock: use
// it for what another goroutine or process does, not for time a fake clock
// can jump over.
func WaitUntil(t testing.TB, timeout, interval time.Duration, what string, cond func() bool) {
	t.Helper()
	Poll(t, timeout, interval, func() (string, bool) { return "timed out waiting for " + what, cond() })
}

// Poll calls check every interval until it reports done, and fails the
// test with check's last word after timeout. check's word says what is
// still missing, so a failure explains itself.
func Poll(t testing.TB, timeout, interval time.Duration, check func() (string, bool)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msg, done := check()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, msg)
		}
		time.Sleep(interval)
	}
}
