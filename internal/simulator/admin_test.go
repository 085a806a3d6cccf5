package simulator

import (
	"strings"
	"sync"
	"testing"
	"time"
)

func TestAdminRoutes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	if r := f.do(t, "PUT", "/_simulator/faults", "", `{"latency":"1ms","status_variant":"spec"}`); r.status != 200 {
		t.Fatalf("PUT faults = %d %s", r.status, r.body)
	}
	if got := f.sim.Faults(); got.Latency != time.Millisecond || got.StatusVariant != VariantSpec {
		t.Fatalf("faults = %+v", got)
	}
	if r := f.do(t, "GET", "/_simulator/faults", "", ""); string(r.body) != `{"latency":"1ms","status_variant":"spec"}` {
		t.Fatalf("GET faults = %s", r.body)
	}
	if r := f.do(t, "PUT", "/_simulator/faults", "", `{"latency":"x"}`); r.status != 400 {
		t.Fatalf("bad faults = %d", r.status)
	}
	if r := f.do(t, "GET", "/_simulator/clock", "", ""); !strings.Contains(string(r.body), "2025-06-02T10:00:00Z") {
		t.Fatalf("clock = %s", r.body)
	}
	if r := f.do(t, "POST", "/_simulator/clock/advance?d=1h", "", ""); !strings.Contains(string(r.body), "2025-06-02T11:00:00Z") {
		t.Fatalf("advance = %s", r.body)
	}
	if r := f.do(t, "POST", "/_simulator/clock/advance?d=later", "", ""); r.status != 400 {
		t.Fatalf("bad advance = %d", r.status)
	}
	if r := f.do(t, "PUT", "/_simulator/journeys", "", `{"operator_id":1,"operator_journey_id":"adm","status":"fraud_error","fraud_labels":["interoperator_overlap"]}`); r.status != 200 {
		t.Fatalf("PUT journey = %d %s", r.status, r.body)
	}
	if got := f.status(t, "adm"); got["status"] != StatusFraudError {
		t.Fatalf("put journey = %v", got)
	}
	if r := f.do(t, "PUT", "/_simulator/journeys", "", `{"operator_journey_id":"BAD"}`); r.status != 400 {
		t.Fatalf("bad journey = %d", r.status)
	}
	cert := `{"uuid":"8a9d2da9-39e3-4db7-be8e-12b4d2179fda","operator_id":1,"type":"expired","start_at":"2025-01-01T00:00:00Z","end_at":"2025-02-01T00:00:00Z","created_at":"2025-02-02T00:00:00Z","positions":[{"lat":47.68,"lon":-0.55}]}`
	if r := f.do(t, "POST", "/_simulator/certificates", "", cert); r.status != 201 {
		t.Fatalf("POST certificate = %d %s", r.status, r.body)
	}
	r := f.do(t, "GET", "/v3.3/certificates/8a9d2da9-39e3-4db7-be8e-12b4d2179fda", token, "")
	got := r.json(t)
	if r.status != 200 || got["type"] != "expired" || got["tz"] != "Europe/Paris" || got["start_at"] != "2025-01-01T00:00:00Z" {
		t.Fatalf("certificate = %d %s", r.status, r.body)
	}
	if r := f.do(t, "GET", "/v3.3/certificates/8a9d2da9-39e3-4db7-be8e-12b4d2179fda", otherToken, ""); r.status != 404 || string(r.body) != bodyNotFoundOld {
		t.Fatalf("other operator certificate = %d %s", r.status, r.body)
	}
	jwt := f.jwt(t)
	if r := f.do(t, "POST", "/_simulator/expire-tokens", "", ""); r.status != 204 {
		t.Fatalf("expire = %d", r.status)
	}
	if r := f.do(t, "GET", "/v3.3/journeys/adm", jwt, ""); r.status != 401 {
		t.Fatalf("expired JWT = %d", r.status)
	}
}

func TestAdvanceNeedsAdvancer(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.Clock = nil })
	if r := f.do(t, "POST", "/_simulator/clock/advance?d=1h", "", ""); r.status != 409 {
		t.Fatalf("advance real clock = %d", r.status)
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	traffic := DefaultTraffic()
	traffic.PerHour, traffic.Backfill = 100, time.Hour
	f := newFixture(t, func(c *Config) { c.Traffic = &traffic; c.Lifecycle.TickInterval = time.Millisecond })
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				f.clock.Advance(time.Minute)
				f.sim.Tick()
			}
		}
	})
	for i := range 4 {
		wg.Go(func() {
			for j := range 20 {
				f.do(t, "GET", "/v3.3/journeys?status=pending", token, "")
				f.do(t, "POST", "/v3.3/journeys", token, clean("c"+string(rune('a'+i))+string(rune('a'+j)), f.clock.Now().Add(-time.Hour)).String())
				f.sim.SetFaults(Faults{StatusVariant: VariantMixed})
				_ = f.sim.Requests()
			}
		})
	}
	for range 4 {
		f.do(t, "GET", "/health", "", "")
	}
	close(stop)
	wg.Wait()
}
