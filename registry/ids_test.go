package registry

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// The registry takes any 1 to 256 characters; only what it refuses is
// refused, with the reason.
func TestCheckOperatorJourneyID(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"a", "3f1b7c2e-8d4a-4e6b-9a0c-2b5d7e9f1a3c", "OPJ-2026-11-25-00042", "trip.1/2 #3?x=%20", "Ëlan", strings.Repeat("é", 256)} {
		if err := CheckOperatorJourneyID(id); err != nil {
			t.Errorf("%q refused: %v", id, err)
		}
	}
	for id, reason := range map[string]string{
		"":                       "empty",
		strings.Repeat("x", 257): "this one has 257",
		"a\x00b":                 "NUL",
		"\xff":                   "UTF-8",
	} {
		if err := CheckOperatorJourneyID(id); err == nil || !strings.Contains(err.Error(), reason) {
			t.Errorf("%q: %v, want an error about %q", id, err, reason)
		}
	}
}

func TestCanonicalV2JourneyID(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"7": "7", "007": "7", "0": "0", "9223372036854775807": "9223372036854775807"} {
		if got, err := CanonicalV2JourneyID(in); err != nil || got != want {
			t.Errorf("%q = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1e3", "abc", "9223372036854775808", " 7"} {
		if got, err := CanonicalV2JourneyID(in); err == nil {
			t.Errorf("%q accepted as %q", in, got)
		}
	}
}

// X-RateLimit-Reset is Unix epoch seconds, never a delay: a small value is
// a moment long past.
func TestRateLimitResetIsUnixSeconds(t *testing.T) {
	t.Parallel()
	h := http.Header{}
	h.Set("X-RateLimit-Limit", "2000")
	h.Set("X-RateLimit-Remaining", "0")
	h.Set("X-RateLimit-Reset", "1764590460")
	if rl := parseRateLimit(h); !rl.Reset.Equal(time.Unix(1764590460, 0)) {
		t.Errorf("reset %v, want Unix 1764590460", rl.Reset)
	}
	h.Set("X-RateLimit-Reset", "30")
	rl := parseRateLimit(h)
	if !rl.Reset.Equal(time.Unix(30, 0)) {
		t.Errorf("reset %v, want Unix 30 (not 30 s from now)", rl.Reset)
	}
	// A reset long past holds nothing back.
	b := newBudget(1000, 10, 1000, 10, DefaultHealthRate, DefaultHealthBurst, wallClock{})
	b.observe(groupStatus, rl)
	if d := b.take(groupStatus); d != 0 {
		t.Errorf("a past reset held a request back %v", d)
	}
}
