package simulator

import (
	"strconv"
	"testing"
	"time"
)

func TestAuthKeyPairAndExpiry(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.sim.Put(Journey{OperatorID: 1, OperatorJourneyID: "j1", Status: StatusOK})

	if r := f.do(t, "POST", "/v3.3/auth/access_token", "", `{"access_key":"ak","secret_key":"wrong"}`); r.status != 401 || string(r.body) != bodyInvalidKeyPair {
		t.Fatalf("bad pair = %d %s", r.status, r.body)
	}
	if r := f.do(t, "POST", "/v3.3/auth/access_token", "", `{"access_key":1}`); r.status != 400 {
		t.Fatalf("bad body = %d %s", r.status, r.body)
	}
	jwt := f.jwt(t)
	if r := f.do(t, "GET", "/v3.3/journeys/j1", jwt, ""); r.status != 200 {
		t.Fatalf("with JWT = %d %s", r.status, r.body)
	}
	f.sim.ExpireTokens()
	if r := f.do(t, "GET", "/v3.3/journeys/j1", jwt, ""); r.status != 401 || string(r.body) != bodyExpired {
		t.Fatalf("after ExpireTokens = %d %s", r.status, r.body)
	}
	fresh := f.jwt(t)
	if r := f.do(t, "GET", "/v3.3/journeys/j1", fresh, ""); r.status != 200 {
		t.Fatalf("fresh JWT = %d %s", r.status, r.body)
	}
	if r := f.do(t, "GET", "/v3.3/journeys/j1", token, ""); r.status != 200 {
		t.Fatalf("static token = %d", r.status)
	}
}

func TestJWTExpiresAfterTTL(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.JWTTTL = 50 * time.Millisecond })
	f.sim.Put(Journey{OperatorID: 1, OperatorJourneyID: "j1", Status: StatusOK})
	jwt := f.jwt(t)
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := f.do(t, "GET", "/v3.3/journeys/j1", jwt, "")
		if r.status == 401 && string(r.body) == bodyExpired {
			return
		}
		if r.status != 200 || time.Now().After(deadline) {
			t.Fatalf("status = %d %s", r.status, r.body)
		}
	}
}

func TestOperatorsSeeOnlyTheirJourneys(t *testing.T) {
	t.Parallel()
	f := newFixture(t, legacyVersions)
	f.sim.Put(Journey{OperatorID: 1, OperatorJourneyID: "mine", Status: StatusOK, StartAt: epoch.Add(-time.Hour)})
	if r := f.do(t, "GET", "/v3.3/journeys/mine", otherToken, ""); r.status != 404 {
		t.Fatalf("other operator = %d", r.status)
	}
	if r := f.do(t, "GET", "/v3.3/journeys?status=ok", otherToken, ""); string(r.body) != "[]" {
		t.Fatalf("other operator list = %s", r.body)
	}
	j, _ := f.sim.Journey("mine")
	if r := f.do(t, "GET", "/v2/journeys/"+strconv.FormatInt(j.JourneyID, 10), otherToken, ""); r.status != 404 {
		t.Fatalf("other operator v2 = %d", r.status)
	}
}

func TestRateLimits(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) {
		c.Limits.Status = Limit{Requests: 3, Window: time.Hour}
		c.Limits.Token = Limit{Requests: 1, Window: time.Hour}
	})
	f.sim.Put(Journey{OperatorID: 1, OperatorJourneyID: "j1", Status: StatusOK})
	// 401 answers are not counted.
	for range 5 {
		if r := f.do(t, "GET", "/v3.3/journeys/j1", "bad", ""); r.status != 401 {
			t.Fatalf("bad token = %d", r.status)
		}
	}
	for i := range 3 {
		r := f.do(t, "GET", "/v3.3/journeys/j1", token, "")
		if r.status != 200 {
			t.Fatalf("request %d = %d", i, r.status)
		}
		if got := r.header.Get("X-RateLimit-Remaining"); got != strconv.Itoa(2-i) {
			t.Fatalf("remaining = %s, want %d", got, 2-i)
		}
		if r.header.Get("X-RateLimit-Limit") != "3" {
			t.Fatalf("limit header = %q", r.header.Get("X-RateLimit-Limit"))
		}
		reset, err := strconv.ParseInt(r.header.Get("X-RateLimit-Reset"), 10, 64)
		if err != nil || reset < time.Now().Unix() || reset > time.Now().Add(time.Hour+time.Second).Unix() {
			t.Fatalf("reset = %q", r.header.Get("X-RateLimit-Reset"))
		}
	}
	// The list and PATCH share the status counter.
	r := f.do(t, "GET", "/v3.3/journeys?status=ok", token, "")
	if r.status != 429 || string(r.body) != bodyTooMany {
		t.Fatalf("4th = %d %s", r.status, r.body)
	}
	if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 1 || ra > 3600 {
		t.Fatalf("Retry-After = %q", r.header.Get("Retry-After"))
	}
	if r := f.do(t, "PATCH", "/v3.3/journeys/j1", token, ""); r.status != 429 {
		t.Fatalf("PATCH = %d", r.status)
	}
	// Other groups keep their own counters.
	if r := f.do(t, "POST", "/v3.3/journeys", token, clean("s1", epoch.Add(-time.Hour)).String()); r.status != 201 {
		t.Fatalf("submit = %d %s", r.status, r.body)
	}
	f.jwt(t)
	if r := f.do(t, "POST", "/v3.3/auth/access_token", "", `{"access_key":"ak","secret_key":"sk"}`); r.status != 429 {
		t.Fatalf("second token = %d", r.status)
	}
	// A refused pair answers 401 and is not counted either, but the
	// window is already used up here.
	if got := len(f.sim.Requests()); got < 10 {
		t.Fatalf("Requests() has %d records", got)
	}
	last := f.sim.Requests()[len(f.sim.Requests())-1]
	if last.Group != groupToken || last.Status != 429 || last.Method != "POST" || last.ClientIP != "127.0.0.1" || last.HasAuthorization {
		t.Fatalf("last record = %+v", last)
	}
}

func TestVersions(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.Versions = []string{"3.2", "3.3"} })
	short := clean("short", epoch.Add(-time.Hour))
	short.distance = 900
	for _, p := range []string{"/v2/journeys/1", "/v3.1/journeys/abc", "/v3.4/journeys/abc", "/v3.0/journeys/abc", "/v9/journeys/abc", "/journeys/abc"} {
		if r := f.do(t, "GET", p, token, ""); r.status != 404 || len(r.body) != 0 {
			t.Fatalf("%s = %d %q", p, r.status, r.body)
		}
	}
	// /v3 is 3.3 here, and takes submissions.
	if r := f.do(t, "POST", "/v3/journeys", token, short.String()); r.status != 422 {
		t.Fatalf("/v3 short = %d %s", r.status, r.body)
	}
	if r := f.do(t, "GET", "/v3.3/nothing", token, ""); r.status != 404 || string(r.body) != bodyNotFoundOld {
		t.Fatalf("unknown route = %d %s", r.status, r.body)
	}
	if r := f.do(t, "GET", "/health", "", ""); r.status != 200 || string(r.body) != `{"status":"ok"}` {
		t.Fatalf("health = %d %s", r.status, r.body)
	}
	if r := f.do(t, "GET", "/metrics", "", ""); r.status != 200 || len(r.body) != 0 {
		t.Fatalf("metrics = %d %q", r.status, r.body)
	}

	// By default, what the real servers serve: 3.3 and 3.4, /v3 being 3.4;
	// the retired versions answer 404 with an empty body, whatever the route.
	served := newFixture(t, nil)
	short.id, short.distance = "short2", 1000
	if r := served.do(t, "POST", "/v3/journeys", token, short.String()); r.status != 201 {
		t.Fatalf("/v3 (3.4) 1 km = %d %s", r.status, r.body)
	}
	served.sim.Put(Journey{OperatorID: 1, OperatorJourneyID: "v", Status: StatusOK})
	for _, p := range []string{"/v3.3/journeys/v", "/v3.4/journeys/v", "/v3/journeys/v"} {
		if r := served.do(t, "GET", p, token, ""); r.status != 200 {
			t.Errorf("default simulator %s = %d %s", p, r.status, r.body)
		}
	}
	j, _ := served.sim.Journey("v")
	for _, p := range []string{"/v2/journeys/" + strconv.FormatInt(j.JourneyID, 10), "/v3.1/journeys/v", "/v3.2/journeys/v",
		"/v3.2/certificates/8a9d2da9-39e3-4db7-be8e-12b4d2179fda", "/v3.2/journeys?status=ok"} {
		if r := served.do(t, "GET", p, token, ""); r.status != 404 || len(r.body) != 0 {
			t.Errorf("default simulator %s = %d %q, want 404 with an empty body", p, r.status, r.body)
		}
	}
	// Asked for, the retired versions are served again.
	legacy := newFixture(t, legacyVersions)
	legacy.sim.Put(Journey{OperatorID: 1, OperatorJourneyID: "v", Status: StatusOK})
	for _, p := range []string{"/v3.1/journeys/v", "/v3.2/journeys/v", "/v3.3/journeys/v", "/v3.4/journeys/v", "/v3/journeys/v"} {
		if r := legacy.do(t, "GET", p, token, ""); r.status != 200 {
			t.Errorf("legacy simulator %s = %d %s", p, r.status, r.body)
		}
	}
}

// The v2 route (docs/registry.md, "Hosts and versions"), on a simulator
// asked to serve v2.
func TestV2Status(t *testing.T) {
	t.Parallel()
	f := newFixture(t, legacyVersions)
	for _, j := range []Journey{
		{OperatorID: 1, OperatorJourneyID: "late", Status: StatusTermsViolationError, TermsViolations: []string{TermsExpired}},
		{OperatorID: 1, OperatorJourneyID: "fraud", Status: StatusFraudError, FraudLabels: []string{FraudOverlap}},
		{OperatorID: 1, OperatorJourneyID: "fine", Status: StatusOK},
	} {
		f.sim.Put(j)
	}
	for id, want := range map[string]string{"late": "expired", "fraud": "fraudcheck_error", "fine": "ok"} {
		j, _ := f.sim.Journey(id)
		n := strconv.FormatInt(j.JourneyID, 10)
		r := f.do(t, "GET", "/v2/journeys/"+n, token, "")
		want := `{"id":1,"jsonrpc":"2.0","result":{"created_at":"` + formatTime(j.CreatedAt) + `","journey_id":"` + n + `","status":"` + want + `"}}`
		if r.status != 200 || string(r.body) != want {
			t.Fatalf("v2 %s = %d %s, want %s", id, r.status, r.body, want)
		}
	}
	if r := f.do(t, "GET", "/v2/journeys/999999999", token, ""); r.status != 404 || string(r.body) != bodyNotFound {
		t.Fatalf("v2 unknown = %d %s", r.status, r.body)
	}
	if r := f.do(t, "GET", "/v2/journeys/1", "bad", ""); r.status != 401 || string(r.body) != bodyV2Unauthorize {
		t.Fatalf("v2 bad token = %d %s", r.status, r.body)
	}
	if r := f.do(t, "GET", "/v2/journeys/1", "", ""); r.status != 403 || string(r.body) != bodyV2Forbidden {
		t.Fatalf("v2 no token = %d %s", r.status, r.body)
	}
}
