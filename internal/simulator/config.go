// Package simulator is an in-process imitation of the French carpooling
// proof registry (Registre de preuve de covoiturage). It reproduces the
// behaviour the real servers show, quirks included (see docs/registry.md), so the
// exporter can be developed and tested without reaching the registry.
package simulator

import (
	"log/slog"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/clock"
)

// Permissions a credential may hold.
const (
	PermStatus = "operator.acquisition.status"
	PermCreate = "operator.acquisition.create"
	PermCancel = "operator.acquisition.cancel"
)

// AllVersions lists the API versions the simulator can serve, oldest first:
// the retired ones too, for clients of servers that still serve them.
var AllVersions = []string{"2", "3.1", "3.2", "3.3", "3.4"}

// ServedVersions is what the real servers serve since 2026-03-04 (3.2 was
// retired, 3.4 went live), and what an empty Config.Versions serves.
var ServedVersions = []string{"3.3", "3.4"}

// Config configures a Simulator. Zero values get the registry's defaults.
type Config struct {
	// Versions served, out of AllVersions; empty means ServedVersions,
	// as the real servers. Others answer 404 with an empty body, and
	// "/v3/..." resolves to the newest served 3.x. A test of a retired
	// version asks for it here.
	Versions []string
	// Tokens are legacy long-lived application tokens.
	Tokens []Token
	// Keys are access_key/secret_key pairs traded for JWTs.
	Keys []KeyPair
	// JWTTTL is the wall-clock lifetime of issued JWTs; default 5m.
	JWTTTL time.Duration
	// Clock drives journeys and their lifecycle; nil means clock.Real().
	Clock clock.Clock
	// LimitClock is what the rate-limit windows and a RateLimitStorm are
	// counted on; nil means the wall clock, as on the servers. A test that
	// lives through a long Retry-After gives the client and the simulator
	// one simulated clock here.
	LimitClock clock.Clock
	Limits     Limits
	Lifecycle  Lifecycle
	// Traffic, when set, makes the simulator submit journeys by itself.
	Traffic *Traffic
	Seed    int64
	Logger  *slog.Logger
}

// Token is a legacy application token. Nil Permissions grant everything.
type Token struct {
	Value       string
	OperatorID  int
	Permissions []string
}

// KeyPair is traded for a JWT on POST /auth/access_token. Nil Permissions
// grant everything.
type KeyPair struct {
	AccessKey   string
	SecretKey   string
	OperatorID  int
	Permissions []string
}

// Limit allows Requests per fixed wall-clock Window.
type Limit struct {
	Requests int
	Window   time.Duration
}

// Limits are counted per client IP and route group, as the registry does.
type Limits struct {
	Status Limit // status GETs (v2 and v3), list and PATCH
	Submit Limit // POST /journeys and cancels (the servers' rl-acquisition)
	Token  Limit // POST /auth/access_token
	Other  Limit // everything else
	// Health counts /health and /metrics apart: a 429 storm on the other
	// counters leaves the probe answering.
	Health Limit
}

// Lifecycle holds the simulated-time schedule of asynchronous processing.
type Lifecycle struct {
	// NormalisationDelay is how long after submission the geographic
	// normalisation runs.
	NormalisationDelay time.Duration
	// BatchInterval separates two fraud and anomaly batches.
	BatchInterval time.Duration
	// CheckFrom and CheckTo bound the age (since journey start) of the
	// journeys a batch examines; older unchecked journeys are passed. In
	// the servers' settings CheckFrom is DELAY and CheckTo DELAY + FRAME:
	// their example settings are 24 h and 30 h, the older notes 48 h and
	// 54 h (the default here); tests run both.
	CheckFrom, CheckTo time.Duration
	// Retention drops journeys that started longer ago, so a long-running
	// accelerated simulator keeps a bounded memory footprint.
	Retention time.Duration
	// TickInterval is the wall-clock period of the background loop.
	TickInterval time.Duration
}

// Defaults, in one place. The rate limits and the check window come from
// docs/registry.md; the delays are plausible guesses.
var (
	DefaultLimits = Limits{
		Status: Limit{Requests: 2000, Window: time.Minute},
		Submit: Limit{Requests: 20000, Window: time.Minute},
		Token:  Limit{Requests: 5, Window: time.Minute},
		Other:  Limit{Requests: 100, Window: 5 * time.Minute},
		Health: Limit{Requests: 100, Window: 5 * time.Minute},
	}
	DefaultLifecycle = Lifecycle{
		NormalisationDelay: 5 * time.Minute,
		BatchInterval:      time.Hour,
		CheckFrom:          48 * time.Hour,
		CheckTo:            54 * time.Hour,
		Retention:          30 * 24 * time.Hour,
		TickInterval:       100 * time.Millisecond,
	}
	DefaultJWTTTL = 5 * time.Minute
)

func (l Limit) orDefault(d Limit) Limit {
	if l.Requests <= 0 {
		l.Requests = d.Requests
	}
	if l.Window <= 0 {
		l.Window = d.Window
	}
	return l
}

func (l Limits) withDefaults() Limits {
	return Limits{
		Status: l.Status.orDefault(DefaultLimits.Status),
		Submit: l.Submit.orDefault(DefaultLimits.Submit),
		Token:  l.Token.orDefault(DefaultLimits.Token),
		Other:  l.Other.orDefault(DefaultLimits.Other),
		Health: l.Health.orDefault(DefaultLimits.Health),
	}
}

func orDuration(v, d time.Duration) time.Duration {
	if v <= 0 {
		return d
	}
	return v
}

func (l Lifecycle) withDefaults() Lifecycle {
	d := DefaultLifecycle
	l.NormalisationDelay = orDuration(l.NormalisationDelay, d.NormalisationDelay)
	l.BatchInterval = orDuration(l.BatchInterval, d.BatchInterval)
	l.CheckFrom = orDuration(l.CheckFrom, d.CheckFrom)
	l.CheckTo = max(orDuration(l.CheckTo, d.CheckTo), l.CheckFrom)
	l.Retention = orDuration(l.Retention, d.Retention)
	l.TickInterval = orDuration(l.TickInterval, d.TickInterval)
	return l
}
