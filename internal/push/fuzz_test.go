package push_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/push"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
	"github.com/covoiturage-exporter/covoiturage_exporter/registry"
)

// recorder is a registry named prod with the 3.x id pattern that keeps
// what it is given.
type recorder struct {
	calls int
	regs  []tracker.Registration
}

func (r *recorder) lookup(name string) (push.Registry, bool) { return r, name == prod }

func (r *recorder) CanonicalID(id string) (string, error) {
	if !registry.ValidOperatorJourneyID(id) {
		return "", errors.New("invalid id")
	}
	return id, nil
}

func (r *recorder) Now() time.Time { return time.Now() }

func (r *recorder) Register(_ context.Context, regs []tracker.Registration) (int, error) {
	r.calls++
	r.regs = append(r.regs, regs...)
	return len(regs), nil
}

// FuzzPush feeds arbitrary bodies to the endpoint. It must never panic,
// answer 200 exactly when encoding/json finds the body well formed (a
// whole JSON object or array, or such a value on every non-blank NDJSON
// line), register nothing otherwise, and register only valid ids.
func FuzzPush(f *testing.F) {
	for _, seed := range []string{
		`{"operator_journey_id": "abc123", "start": "2026-11-20T08:15:00Z"}`,
		`[{"operator_journey_id": "a1"}, {"journey_id": 42}, {"operator_journey_id": "B"}, "x", null, [1]]`,
		"{\"operator_journey_id\": \"a1\"}\n\n{\"operator_journey_id\": \"a2\", \"start\": {\"datetime\": \"2026-11-20T08:15:00+01:00\"}}\r\n",
		`[{"operator_journey_id": "e1", "note": "] } [ { \" \\"}, {"n": [1, {"x": "]"}], "z": -1.5e3}]`,
		"\ufeff[]", `[1,]`, `[,]`, `{"a":1}{`, `[{"a": [}]`, `"\`, `[tru]`, `[-]`, `{"operator_journey_id": "a\u0000"}`,
	} {
		f.Add([]byte(seed), false)
		f.Add([]byte(seed), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, ndjson bool) {
		rec := &recorder{}
		h := push.NewHandler(rec.lookup, push.Options{MaxBodyBytes: 1 << 20, MaxBatch: 1 << 20})
		req := httptest.NewRequest(http.MethodPost, "/api/v1/journeys/"+prod, bytes.NewReader(body))
		req.SetPathValue("registry", prod)
		contentType := "application/json"
		if ndjson {
			contentType = "application/x-ndjson"
		}
		req.Header.Set("Content-Type", contentType)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)

		if w.Code != http.StatusOK {
			if w.Code != http.StatusBadRequest && w.Code != http.StatusRequestEntityTooLarge {
				t.Fatalf("answer %d", w.Code)
			}
			if rec.calls != 0 {
				t.Fatalf("answer %d, yet Register was called", w.Code)
			}
		}
		if len(body) <= 1<<20 && (w.Code == http.StatusOK) != wellFormed(body, ndjson) {
			t.Fatalf("answer %d (%s), but encoding/json finds the body well formed: %v", w.Code, w.Body, wellFormed(body, ndjson))
		}
		if w.Code != http.StatusOK {
			return
		}
		var resp push.Response
		if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
			t.Fatal(err)
		}
		if resp.Accepted != len(rec.regs) || resp.New != len(rec.regs) || len(resp.Rejected) > 100 || resp.RejectedCount < len(resp.Rejected) {
			t.Fatalf("answer %+v for %d registrations", resp, len(rec.regs))
		}
		for _, r := range rec.regs {
			if !registry.ValidOperatorJourneyID(r.ID) || r.Source != tracker.SourcePush {
				t.Fatalf("registered %+v", r)
			}
		}
	})
}

func wellFormed(body []byte, ndjson bool) bool {
	body = bytes.TrimPrefix(body, []byte("\ufeff"))
	if !ndjson {
		trimmed := bytes.TrimLeft(body, " \t\r\n")
		return json.Valid(body) && len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[')
	}
	for line := range bytes.SplitSeq(body, []byte("\n")) {
		if len(bytes.Trim(line, " \t\r")) > 0 && !json.Valid(line) {
			return false
		}
	}
	return true
}
