package simulator

import (
	"encoding/json"
	"fmt"
	"time"
)

// Faults are misbehaviours injected into API answers (never into the
// /_simulator/ admin routes).
type Faults struct {
	// Latency delays every answer, plus up to LatencyJitter at random.
	Latency, LatencyJitter time.Duration
	// ServerErrorRatio is the share of versioned API answers replaced by
	// 500 -32603.
	ServerErrorRatio float64
	// RateLimitStorm, counted from SetFaults, makes every limited route
	// answer 429 with Retry-After set to the storm's remaining seconds.
	RateLimitStorm time.Duration
	// Maintenance makes every route, /health included, answer 503.
	Maintenance bool
	// MalformedRatio is the share of 200 bodies replaced by invalid JSON.
	MalformedRatio float64
	// TruncatedRatio is the share of 200 bodies cut in half.
	TruncatedRatio float64
	// StatusVariant picks the status object shape: "code" (default, what
	// the server code sends), "spec" (what the specs describe) or "mixed"
	// (random per answer).
	StatusVariant string
	// ShiftPages reorders list results between requests, as the real list
	// has no ORDER BY.
	ShiftPages bool
	// LegacyNotFound answers an unknown journey with the older
	// {"code":404,"error":"Not found"} body.
	LegacyNotFound bool
	// Older notes, kept selectable against what the servers do (docs/registry.md):
	// LegacyListWindow lets the list's end reach now (not today 00:00
	// Paris); NumericJourneyID sends journey_id as a number (not a string
	// of digits); SecondsCreatedAt drops created_at's milliseconds.
	LegacyListWindow bool
	NumericJourneyID bool
	SecondsCreatedAt bool
	// LegacyTerms checks submissions as servers up to 2025-09 did, on
	// every version: distance_too_short under 2 km, too_many_trips_by_day
	// from 4 trips of the driver and the passenger together that Paris
	// day, and a 422 carrying terms_violation_labels alone.
	LegacyTerms bool
}

// Status variants.
const (
	VariantCode  = "code"
	VariantSpec  = "spec"
	VariantMixed = "mixed"
)

// faultsJSON carries durations as Go duration strings ("1.5s").
type faultsJSON struct {
	Latency          string  `json:"latency,omitempty"`
	LatencyJitter    string  `json:"latency_jitter,omitempty"`
	ServerErrorRatio float64 `json:"server_error_ratio,omitempty"`
	RateLimitStorm   string  `json:"rate_limit_storm,omitempty"`
	Maintenance      bool    `json:"maintenance,omitempty"`
	MalformedRatio   float64 `json:"malformed_ratio,omitempty"`
	TruncatedRatio   float64 `json:"truncated_ratio,omitempty"`
	StatusVariant    string  `json:"status_variant,omitempty"`
	ShiftPages       bool    `json:"shift_pages,omitempty"`
	LegacyNotFound   bool    `json:"legacy_not_found,omitempty"`
	LegacyListWindow bool    `json:"legacy_list_window,omitempty"`
	NumericJourneyID bool    `json:"numeric_journey_id,omitempty"`
	SecondsCreatedAt bool    `json:"seconds_created_at,omitempty"`
	LegacyTerms      bool    `json:"legacy_terms,omitempty"`
}

func durationString(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

// MarshalJSON writes durations as Go duration strings.
func (f Faults) MarshalJSON() ([]byte, error) {
	return json.Marshal(faultsJSON{
		Latency:          durationString(f.Latency),
		LatencyJitter:    durationString(f.LatencyJitter),
		ServerErrorRatio: f.ServerErrorRatio,
		RateLimitStorm:   durationString(f.RateLimitStorm),
		Maintenance:      f.Maintenance,
		MalformedRatio:   f.MalformedRatio,
		TruncatedRatio:   f.TruncatedRatio,
		StatusVariant:    f.StatusVariant,
		ShiftPages:       f.ShiftPages,
		LegacyNotFound:   f.LegacyNotFound,
		LegacyListWindow: f.LegacyListWindow,
		NumericJourneyID: f.NumericJourneyID,
		SecondsCreatedAt: f.SecondsCreatedAt,
		LegacyTerms:      f.LegacyTerms,
	})
}

// UnmarshalJSON reads durations as Go duration strings and checks ranges.
func (f *Faults) UnmarshalJSON(b []byte) error {
	var in faultsJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	out := Faults{
		ServerErrorRatio: in.ServerErrorRatio,
		Maintenance:      in.Maintenance,
		MalformedRatio:   in.MalformedRatio,
		TruncatedRatio:   in.TruncatedRatio,
		StatusVariant:    in.StatusVariant,
		ShiftPages:       in.ShiftPages,
		LegacyNotFound:   in.LegacyNotFound,
		LegacyListWindow: in.LegacyListWindow,
		NumericJourneyID: in.NumericJourneyID,
		SecondsCreatedAt: in.SecondsCreatedAt,
		LegacyTerms:      in.LegacyTerms,
	}
	for _, d := range []struct {
		name string
		in   string
		out  *time.Duration
	}{
		{"latency", in.Latency, &out.Latency},
		{"latency_jitter", in.LatencyJitter, &out.LatencyJitter},
		{"rate_limit_storm", in.RateLimitStorm, &out.RateLimitStorm},
	} {
		if d.in == "" {
			continue
		}
		v, err := time.ParseDuration(d.in)
		if err != nil || v < 0 {
			return fmt.Errorf("%s: invalid duration %q", d.name, d.in)
		}
		*d.out = v
	}
	if err := out.validate(); err != nil {
		return err
	}
	*f = out
	return nil
}

func (f *Faults) validate() error {
	for name, r := range map[string]float64{
		"server_error_ratio": f.ServerErrorRatio,
		"malformed_ratio":    f.MalformedRatio,
		"truncated_ratio":    f.TruncatedRatio,
	} {
		if !(r >= 0 && r <= 1) {
			return fmt.Errorf("%s must be between 0 and 1", name)
		}
	}
	switch f.StatusVariant {
	case "", VariantCode, VariantSpec, VariantMixed:
	default:
		return fmt.Errorf("status_variant must be code, spec or mixed, not %q", f.StatusVariant)
	}
	return nil
}

// chance draws under the faults lock so concurrent requests share one
// seeded source.
func (s *Simulator) chance(p float64) bool {
	if p <= 0 {
		return false
	}
	s.faultsMu.Lock()
	defer s.faultsMu.Unlock()
	return s.rng.Float64() < p
}

func (s *Simulator) jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	s.faultsMu.Lock()
	defer s.faultsMu.Unlock()
	return time.Duration(s.rng.Int64N(int64(d)))
}

// stormRemaining is how long the current rate-limit storm still lasts.
func (s *Simulator) stormRemaining(now time.Time) time.Duration {
	s.faultsMu.Lock()
	defer s.faultsMu.Unlock()
	if s.stormEnd.IsZero() || !now.Before(s.stormEnd) {
		return 0
	}
	return s.stormEnd.Sub(now)
}

// corrupt applies the body faults to a 200 answer.
func (s *Simulator) corrupt(a answer, f Faults) answer {
	if a.status != 200 || len(a.body) == 0 {
		return a
	}
	if s.chance(f.MalformedRatio) {
		a.body = []byte(`{"operator_journey_id": "` + "\x00<html>bad gateway")
		return a
	}
	if s.chance(f.TruncatedRatio) {
		a.body = a.body[:len(a.body)/2]
	}
	return a
}
