package simulator

import (
	"testing"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/clock"
)

func FuzzSubmit(f *testing.F) {
	f.Add([]byte(clean("seed1", epoch.Add(-time.Hour)).String()))
	f.Add([]byte(`{"operator_journey_id":"a","distance":1e308}`))
	f.Add([]byte(`{"start":{"datetime":"2025-13-01T00:00:00Z"}}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`[]`))
	f.Add([]byte(``))
	s, err := New(Config{Clock: clock.NewAccelerated(epoch, 0)})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		status, resp := s.Submit(1, body)
		if status < 200 || status >= 500 || len(resp) == 0 {
			t.Fatalf("Submit = %d %s", status, resp)
		}
	})
}
