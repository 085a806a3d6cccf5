package simulator

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"
)

func TestFaults(t *testing.T) {
	t.Parallel()
	t.Run("latency", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, nil)
		f.sim.SetFaults(Faults{Latency: 30 * time.Millisecond, LatencyJitter: 10 * time.Millisecond})
		began := time.Now()
		f.do(t, "GET", "/health", "", "")
		if time.Since(began) < 30*time.Millisecond {
			t.Fatal("answer came before the latency")
		}
	})
	t.Run("server errors", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, nil)
		f.sim.SetFaults(Faults{ServerErrorRatio: 1})
		if r := f.do(t, "GET", "/v3.3/journeys/abc", token, ""); r.status != 500 || string(r.body) != bodyInternal {
			t.Fatalf("= %d %s", r.status, r.body)
		}
		if r := f.do(t, "GET", "/health", "", ""); r.status != 200 {
			t.Fatalf("health = %d", r.status)
		}
	})
	t.Run("storm", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, nil)
		f.sim.SetFaults(Faults{RateLimitStorm: 90 * time.Second})
		r := f.do(t, "GET", "/v3.3/journeys/abc", token, "")
		ra, _ := strconv.Atoi(r.header.Get("Retry-After"))
		if r.status != 429 || ra < 89 || ra > 90 || string(r.body) != bodyTooMany {
			t.Fatalf("= %d Retry-After %q %s", r.status, r.header.Get("Retry-After"), r.body)
		}
		f.sim.SetFaults(Faults{})
		if r := f.do(t, "GET", "/v3.3/journeys/abc", token, ""); r.status != 404 {
			t.Fatalf("after storm = %d", r.status)
		}
	})
	t.Run("maintenance", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, nil)
		f.sim.SetFaults(Faults{Maintenance: true})
		for _, p := range []string{"/health", "/metrics", "/v3.3/journeys?status=ok", "/v2/journeys/1"} {
			if r := f.do(t, "GET", p, token, ""); r.status != 503 || string(r.body) != bodyMaintenance {
				t.Fatalf("%s = %d %s", p, r.status, r.body)
			}
		}
		if r := f.do(t, "GET", "/_simulator/faults", "", ""); r.status != 200 {
			t.Fatalf("admin = %d", r.status)
		}
	})
	t.Run("malformed and truncated", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, nil)
		f.sim.Put(Journey{OperatorID: 1, OperatorJourneyID: "j", Status: StatusOK})
		good := f.do(t, "GET", "/v3.3/journeys/j", token, "").body
		f.sim.SetFaults(Faults{MalformedRatio: 1})
		if r := f.do(t, "GET", "/v3.3/journeys/j", token, ""); r.status != 200 || json.Valid(r.body) {
			t.Fatalf("malformed = %d %s", r.status, r.body)
		}
		f.sim.SetFaults(Faults{TruncatedRatio: 1})
		if r := f.do(t, "GET", "/v3.3/journeys/j", token, ""); json.Valid(r.body) || string(r.body) != string(good[:len(good)/2]) {
			t.Fatalf("truncated = %s", r.body)
		}
		if r := f.do(t, "GET", "/v3.3/journeys/zz", token, ""); string(r.body) != bodyNotFound {
			t.Fatalf("404 bodies stay intact, got %s", r.body)
		}
	})
	t.Run("shifting pages", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, nil)
		for i := range 30 {
			f.sim.Put(Journey{OperatorID: 1, OperatorJourneyID: "s" + strconv.Itoa(i), Status: StatusOK, StartAt: epoch.Add(-24 * time.Hour)})
		}
		stable := string(f.do(t, "GET", "/v3.3/journeys?status=ok&limit=5", token, "").body)
		if again := string(f.do(t, "GET", "/v3.3/journeys?status=ok&limit=5", token, "").body); again != stable {
			t.Fatal("pages move without ShiftPages")
		}
		f.sim.SetFaults(Faults{ShiftPages: true})
		for range 20 {
			if string(f.do(t, "GET", "/v3.3/journeys?status=ok&limit=5", token, "").body) != stable {
				return
			}
		}
		t.Fatal("pages never moved with ShiftPages")
	})
}

func TestFaultsJSON(t *testing.T) {
	t.Parallel()
	in := Faults{Latency: 1500 * time.Millisecond, RateLimitStorm: time.Minute, ServerErrorRatio: 0.1, StatusVariant: VariantSpec, ShiftPages: true}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"latency":"1.5s","server_error_ratio":0.1,"rate_limit_storm":"1m0s","status_variant":"spec","shift_pages":true}` {
		t.Fatalf("marshal = %s", b)
	}
	var out Faults
	if err := json.Unmarshal(b, &out); err != nil || out != in {
		t.Fatalf("round trip = %+v, %v", out, err)
	}
	for _, bad := range []string{`{"latency":"soon"}`, `{"server_error_ratio":2}`, `{"status_variant":"odd"}`, `{"latency":"-1s"}`, `[]`} {
		if err := json.Unmarshal([]byte(bad), &out); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
