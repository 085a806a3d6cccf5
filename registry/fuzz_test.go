package registry

import (
	"net/http"
	"testing"
	"time"
)

// The fuzz targets feed every decoder untrusted bytes: none may panic, and
// what they accept must be self-consistent.

func seedBodies(f *testing.F, bodies ...string) {
	for _, b := range bodies {
		f.Add([]byte(b))
	}
}

func FuzzDecodeJourneyStatus(f *testing.F) {
	seedBodies(f,
		`{"operator_journey_id":"a","journey_id":1,"status":"ok","created_at":"2025-05-04T09:42:00Z","fraud_error_labels":["interoperator_overlap"],"anomaly_error_details":[{"label":"x","metas":{"overlap_duration_ratio":0.5}}],"terms_violation_details":["expired"]}`,
		`{"status":"fraud_error","fraud_error_labels":[{"label":"interoperator_overlap"}],"anomaly_error_details":[{"metas":{"conflicting_journey_id":"z","temporal_overlap_duration_ratio":"1"}}]}`,
		`{"status":null}`, `[]`, `{}`)
	f.Fuzz(func(t *testing.T, body []byte) {
		js, err := DecodeJourneyStatus(body)
		if err == nil && js.Status == "" && len(js.FraudLabels)+len(js.TermsViolations) < 0 {
			t.Fatal("unreachable")
		}
	})
}

func FuzzDecodeJourneyStatusV2(f *testing.F) {
	seedBodies(f, `{"id":1,"jsonrpc":"2.0","result":{"journey_id":"x","status":"expired","created_at":"2020-01-01T00:00:00+0100"}}`, `{"result":null}`)
	f.Fuzz(func(t *testing.T, body []byte) {
		_, _ = DecodeJourneyStatusV2(body)
	})
}

func FuzzDecodeJourneyList(f *testing.F) {
	seedBodies(f, `[{"operator_journey_id":"a"},{"operator_journey_id":1}]`, `[null]`, `{}`)
	f.Fuzz(func(t *testing.T, body []byte) {
		ids, err := DecodeJourneyList(body)
		for _, id := range ids {
			if id == "" {
				t.Fatalf("empty id accepted (err %v)", err)
			}
		}
	})
}

func FuzzDecodeCertificate(f *testing.F) {
	seedBodies(f, `{"type":"ok","uuid":"8a9d2da9-39e3-4db7-be8e-12b4d2179fda","driver":{"total":{"trips":42}},"passenger":{"total":{"trips":"7"}}}`, `{"type":1}`)
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := DecodeCertificate(body)
		if err == nil && (c.DriverTrips < 0 || c.PassengerTrips < 0) {
			t.Fatalf("negative trips: %+v", c)
		}
	})
}

func FuzzDecodeHealth(f *testing.F) {
	seedBodies(f, `{"status":"ok"}`, `{"status":1}`, ``)
	f.Fuzz(func(t *testing.T, body []byte) {
		_, _ = DecodeHealth(body)
	})
}

func FuzzClassify(f *testing.F) {
	f.Add(429, []byte(`{"error":{"code":429,"message":"Too many requests"}}`), "5", "10", "0", "1700000030")
	f.Add(422, []byte(`{"id":1,"jsonrpc":"2.0","error":{"code":-32422,"data":{"terms_violation_labels":["expired"]}}}`), "", "", "", "")
	f.Add(401, []byte(`{"error":{"code":"401","data":"Error","message":"Unauthorized Error"}}`), "Wed, 21 Oct 2015 07:28:00 GMT", "x", "-1", "1e99")
	f.Fuzz(func(t *testing.T, status int, body []byte, retryAfter, limit, remaining, reset string) {
		h := http.Header{}
		h.Set("Retry-After", retryAfter)
		h.Set("X-RateLimit-Limit", limit)
		h.Set("X-RateLimit-Remaining", remaining)
		h.Set("X-RateLimit-Reset", reset)
		e := classify("journey_status", status, body, h, time.Unix(1_700_000_000, 0))
		if e.RetryAfter < 0 {
			t.Fatalf("negative Retry-After %v", e.RetryAfter)
		}
		if len(e.Message) > maxMessageLen+len("…") {
			t.Fatalf("message not bounded: %d bytes", len(e.Message))
		}
		_ = e.Error()
	})
}

func FuzzJWTExpiry(f *testing.F) {
	f.Add("eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjE3MDAwMDAzMDB9.sig")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, tok string) {
		if exp := jwtExpiry(tok); !exp.IsZero() && exp.Before(time.Unix(0, 0)) {
			t.Fatalf("expiry before the epoch: %v", exp)
		}
	})
}

func FuzzDecodeSubmission(f *testing.F) {
	f.Add(201, []byte(`{"id":1,"jsonrpc":"2.0","result":{"meta":null,"data":{"operator_journey_id":"a1","created_at":"2021-01-01T00:00:00+0100"}}}`))
	f.Add(422, []byte(`{"id":1,"jsonrpc":"2.0","error":{"code":-32422,"message":"Unprocessable Request","data":{"terms_violation_labels":["expired"]}}}`))
	f.Add(422, []byte(`{"jsonrpc":"2.0","id":1,"error":{"data":{"terms_violation_labels":["too_many_trips_by_day"],"terms_violation_error_details":[{"label":"too_many_trips_by_day","metas":{"driver":5,"passenger":"2","limit":4}}]},"code":-32422,"message":"Unprocessable Request"}}`))
	f.Add(409, []byte(`{"id":1,"jsonrpc":"2.0","error":{"code":-32509,"message":"Conflict"}}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		s, err := DecodeSubmission(status, body, nil)
		if err == nil && (status < 200 || status > 299) {
			t.Fatalf("status %d accepted as %+v", status, s)
		}
	})
}
