package testkit

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestLockedBufferTakesConcurrentWrites(t *testing.T) {
	t.Parallel()
	var b LockedBuffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_, _ = b.Write([]byte("x\n"))
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if n := strings.Count(b.String(), "x\n"); n != 800 {
		t.Errorf("%d lines, want 800", n)
	}
}

func TestTeeWriterKeepsWhatItPasses(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	tw := NewTeeWriter(rec)
	http.Error(tw, "gone", http.StatusGone)
	if tw.Status != http.StatusGone || rec.Code != http.StatusGone {
		t.Errorf("status kept %d, passed %d, want 410", tw.Status, rec.Code)
	}
	if tw.Body.String() != "gone\n" || rec.Body.String() != "gone\n" {
		t.Errorf("body kept %q, passed %q", tw.Body.String(), rec.Body.String())
	}
	if NewTeeWriter(httptest.NewRecorder()).Status != http.StatusOK {
		t.Error("a handler that sets no status answers 200")
	}
}

func TestFreeAddressIsListenable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", FreeAddress(t))
	if err != nil {
		t.Fatal(err)
	}
	_ = l.Close()
}

func TestPollWaitsForTheCondition(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	WaitUntil(t, 10*time.Second, time.Millisecond, "the third call", func() bool { return calls.Add(1) >= 3 })
	if calls.Load() != 3 {
		t.Errorf("%d calls, want 3", calls.Load())
	}
}

func TestTailKeepsTheLastLines(t *testing.T) {
	t.Parallel()
	if got := Tail("a\nb\nc\n", 2); got != "b\nc" {
		t.Errorf("Tail = %q", got)
	}
	if got := Tail("a\n", 5); got != "a" {
		t.Errorf("Tail = %q", got)
	}
}

func TestHeadingAnchor(t *testing.T) {
	t.Parallel()
	for heading, want := range map[string]string{
		"CovoiturageExpiredJourneysSpike": "covoiturageexpiredjourneysspike",
		"How alerts reach you":            "how-alerts-reach-you",
		"Labels, and what they mean":      "labels-and-what-they-mean",
		"  up_covoiturage (exporter) ":    "up_covoiturage-exporter",
		"See [the runbook](runbook.md)":   "see-the-runbook",
	} {
		if got := HeadingAnchor(heading); got != want {
			t.Errorf("HeadingAnchor(%q) = %q, want %q", heading, got, want)
		}
	}
}
