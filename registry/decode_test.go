package registry

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDecodeJourneyStatusVariants(t *testing.T) {
	t.Parallel()
	created := time.Date(2025, 5, 4, 9, 42, 0, 0, time.UTC)
	tests := []struct {
		name string
		body string
		want JourneyStatus
	}{
		{
			name: "code variant: string labels, code metas keys, numeric journey_id",
			body: `{"operator_journey_id":"abc1","journey_id":12345,"status":"anomaly_error","created_at":"2025-05-04T09:42:00+00:00",
				"fraud_error_labels":["interoperator_overlap"],
				"anomaly_error_details":[{"label":"temporal_overlap_anomaly","metas":{"conflicting_operator_journey_id":"abc0","overlap_duration_ratio":0.8}}],
				"terms_violation_details":[]}`,
			want: JourneyStatus{OperatorJourneyID: "abc1", JourneyID: "12345", Status: "anomaly_error", CreatedAt: created,
				FraudLabels: []string{"interoperator_overlap"},
				Anomalies:   []Anomaly{{Label: "temporal_overlap_anomaly", ConflictingJourneyID: "abc0", OverlapRatio: 0.8, HasOverlapRatio: true}}},
		},
		{
			name: "spec variant: object labels, spec metas keys, string journey_id",
			body: `{"operator_journey_id":"abc1","journey_id":"12345","status":"fraud_error","created_at":"2025-05-04T11:42:00+0200",
				"fraud_error_labels":[{"label":"interoperator_too_close_trips"}],
				"anomaly_error_details":[{"label":"distance_duration_anomaly","metas":{"conflicting_journey_id":"x9","temporal_overlap_duration_ratio":0}}],
				"terms_violation_details":["expired","too_close_trips"]}`,
			want: JourneyStatus{OperatorJourneyID: "abc1", JourneyID: "12345", Status: "fraud_error", CreatedAt: created,
				FraudLabels:     []string{"interoperator_too_close_trips"},
				Anomalies:       []Anomaly{{Label: "distance_duration_anomaly", ConflictingJourneyID: "x9", OverlapRatio: 0, HasOverlapRatio: true}},
				TermsViolations: []string{"expired", "too_close_trips"}},
		},
		{
			name: "the documentation example",
			body: `{"status":"fraud_error","operator_journey_id":"string","created_at":"2025-05-04T09:42:00+00:00","fraud_error_labels":["interoperator_overlap"],"anomaly_error_details":[{"label":"temporal_overlap_anomaly","metas":{"conflicting_journey_id":"string","temporal_overlap_duration_ratio":42.0}}],"terms_violation_details":["expired"]}`,
			want: JourneyStatus{OperatorJourneyID: "string", Status: "fraud_error", CreatedAt: created,
				FraudLabels:     []string{"interoperator_overlap"},
				Anomalies:       []Anomaly{{Label: "temporal_overlap_anomaly", ConflictingJourneyID: "string", OverlapRatio: 42, HasOverlapRatio: true}},
				TermsViolations: []string{"expired"}},
		},
		{
			name: "unknown values and nulls are kept, not errors",
			body: `{"operator_journey_id":"z","journey_id":null,"status":"brand_new_status","created_at":"not a date",
				"fraud_error_labels":[{"label":"new_fraud"}, null, 3],"anomaly_error_details":null,"terms_violation_details":["new_reason"]}`,
			want: JourneyStatus{OperatorJourneyID: "z", Status: "brand_new_status",
				FraudLabels: []string{"new_fraud", "3"}, TermsViolations: []string{"new_reason"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeJourneyStatus([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if !got.CreatedAt.Equal(tt.want.CreatedAt) {
				t.Errorf("created_at = %v, want %v", got.CreatedAt, tt.want.CreatedAt)
			}
			got.CreatedAt, tt.want.CreatedAt = time.Time{}, time.Time{}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestDecodeJourneyStatusRejects(t *testing.T) {
	t.Parallel()
	for _, body := range []string{``, `[]`, `{"operator_journey_id":"a"}`, `{"status":`, `null`, `"ok"`} {
		if _, err := DecodeJourneyStatus([]byte(body)); err == nil {
			t.Errorf("DecodeJourneyStatus(%q) succeeded", body)
		}
	}
}

func TestDecodeJourneyStatusV2(t *testing.T) {
	t.Parallel()
	got, err := DecodeJourneyStatusV2([]byte(`{"id":1,"jsonrpc":"2.0","result":{"journey_id":"9415300a-7a51-4296-96d1-68636e46485d","status":"expired","created_at":"2020-01-01T00:00:00+0100"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got.JourneyID != "9415300a-7a51-4296-96d1-68636e46485d" || got.Status != "expired" ||
		!got.CreatedAt.Equal(time.Date(2019, 12, 31, 23, 0, 0, 0, time.UTC)) {
		t.Errorf("got %+v", got)
	}
	for _, body := range []string{`{"id":1,"jsonrpc":"2.0","error":{"code":-32504}}`, `{"result":{}}`, `x`} {
		if _, err := DecodeJourneyStatusV2([]byte(body)); err == nil {
			t.Errorf("DecodeJourneyStatusV2(%q) succeeded", body)
		}
	}
}

func TestDecodeCertificateSeed(t *testing.T) {
	t.Parallel()
	body := `{"type":"ok","uuid":"8a9d2da9-39e3-4db7-be8e-12b4d2179fda","tz":"Europe/Paris","start_at":"2020-01-01T00:00:00+0100","end_at":"2020-01-01T00:00:00+0100","created_at":"2020-01-01T00:00:00+0100","identity":{"uuid":"string"},"operator":{"_id":42,"uuid":"string","name":"string"},"positions":[{"lat":47.682821,"lon":-0.557483}],"driver":{"total":{"trips":42,"week_trips":42,"weekend_trips":42,"distance":42.0,"amount":42.0},"trips":[]},"passenger":{"total":{"trips":7},"trips":[]}}`
	c, err := DecodeCertificate([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if c.Type != "ok" || c.UUID != "8a9d2da9-39e3-4db7-be8e-12b4d2179fda" || c.DriverTrips != 42 || c.PassengerTrips != 7 || c.StartAt.IsZero() {
		t.Errorf("got %+v", c)
	}
	if _, err := DecodeCertificate([]byte(`{"uuid":"x"}`)); err == nil {
		t.Error("certificate without type accepted")
	}
}

func TestDecodeJourneyList(t *testing.T) {
	t.Parallel()
	ids, err := DecodeJourneyList([]byte(`[{"operator_journey_id":"a1"},{"operator_journey_id":2},{"other":1}]`))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ids, []string{"a1", "2"}) {
		t.Errorf("ids = %v", ids)
	}
	if _, err := DecodeJourneyList([]byte(`{"operator_journey_id":"a1"}`)); err == nil {
		t.Error("object accepted as a list")
	}
}

// Every row of docs/registry.md's error table, as the servers send it.
func TestClassifyErrorTable(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	tests := []struct {
		name       string
		status     int
		body       string
		header     http.Header
		kind       Kind
		code       int
		retryAfter time.Duration
		terms      []string
	}{
		{"400 invalid params", 400, `{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"Invalid params","data":"bad"}}`, nil, KindBadRequest, -32602, 0, nil},
		{"401 rpc", 401, `{"id":1,"jsonrpc":"2.0","error":{"code":-32501,"data":"Unauthorized application","message":"Unauthorized Error"}}`, nil, KindUnauthorized, -32501, 0, nil},
		{"401 middleware expired", 401, `{"error":{"code":401,"data":"Error","message":"Unauthorized Error"},"id":1,"jsonrpc":"2.0"}`, nil, KindAuthExpired, 401, 0, nil},
		{"401 v2 spec shape", 401, `{"code":401,"error":"Unauthorized"}`, nil, KindUnauthorized, 401, 0, nil},
		{"403", 403, `{"id":1,"error":{"code":-32503,"data":"Invalid permissions","message":"Forbidden Error"},"jsonrpc":"2.0"}`, nil, KindForbidden, -32503, 0, nil},
		{"404 rpc", 404, `{"id":1,"jsonrpc":"2.0","error":{"code":-32504,"message":"Not found"}}`, nil, KindNotFound, -32504, 0, nil},
		{"404 spec", 404, `{"code":404,"error":"Not found"}`, nil, KindNotFound, 404, 0, nil},
		{"404 unsupported version", 404, ``, nil, KindUnsupportedVersion, 0, 0, nil},
		{"409", 409, `{"id":1,"jsonrpc":"2.0","error":{"code":-32509,"message":"Conflict"}}`, nil, KindConflict, -32509, 0, nil},
		{"422 terms", 422, `{"id":1,"jsonrpc":"2.0","error":{"code":-32422,"message":"Unprocessable Request","data":{"terms_violation_labels":["expired"]}}}`, nil, KindTermsViolation, -32422, 0, []string{"expired"}},
		{"429", 429, `{"error":{"code":429,"message":"Too many requests"}}`, http.Header{"Retry-After": {"7"}}, KindRateLimited, 429, 7 * time.Second, nil},
		{"429 reset only", 429, `{"error":{"code":429,"message":"Too many requests"}}`, http.Header{"X-Ratelimit-Limit": {"10"}, "X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {"1700000030"}}, KindRateLimited, 429, 30 * time.Second, nil},
		{"500", 500, `{"id":1,"jsonrpc":"2.0","error":{"code":-32603,"message":"Internal error"}}`, nil, KindServerError, -32603, 0, nil},
		{"502 html", 502, `<html>bad gateway</html>`, nil, KindServerError, 0, 0, nil},
		{"503 maintenance", 503, `{"code":503,"error":"Service Unavailable"}`, nil, KindUnavailable, 503, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := tt.header
			if h == nil {
				h = http.Header{}
			}
			e := classify("journey_status", tt.status, []byte(tt.body), h, now)
			if e.Kind != tt.kind || e.Code != tt.code || e.RetryAfter != tt.retryAfter || !reflect.DeepEqual(e.TermsLabels, tt.terms) {
				t.Errorf("got kind %v code %d retry %v terms %v, want %v %d %v %v", e.Kind, e.Code, e.RetryAfter, e.TermsLabels, tt.kind, tt.code, tt.retryAfter, tt.terms)
			}
			if e.Error() == "" || KindOf(e) != tt.kind {
				t.Errorf("KindOf = %v", KindOf(e))
			}
		})
	}
}

func TestSecretNeverPrints(t *testing.T) {
	t.Parallel()
	a := Auth{Token: "s3cr3t-token", AccessKey: "ak", SecretKey: "s3cr3t-key"}
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		if s := fmt.Sprintf(f, a); strings.Contains(s, "s3cr3t") {
			t.Errorf("%s leaks: %s", f, s)
		}
	}
}

func TestJWTExpiry(t *testing.T) {
	t.Parallel()
	// header {"alg":"HS256"}, payload {"exp":1700000300}
	tok := "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjE3MDAwMDAzMDB9.sig"
	if got := jwtExpiry(tok); !got.Equal(time.Unix(1700000300, 0)) {
		t.Errorf("exp = %v", got)
	}
	for _, bad := range []string{"", "a.b", "a.!!.c", "a.bnVsbA.c"} {
		if !jwtExpiry(bad).IsZero() {
			t.Errorf("jwtExpiry(%q) not zero", bad)
		}
	}
}

// A 422's terms, as the servers send them and as they might: the labels
// are kept whatever else is odd, details that are not what the servers
// build are skipped or lose their counts, nothing fails.
func TestDecodeTermsRefusal(t *testing.T) {
	t.Parallel()
	envelope := func(data string) string {
		return `{"jsonrpc":"2.0","id":1,"error":{"data":` + data + `,"code":-32422,"message":"Unprocessable Request"}}`
	}
	counts := func(d, p, l int) *TripCounts { return &TripCounts{Driver: d, Passenger: p, Limit: l} }
	long := strings.Repeat("x", 300)
	many := `[` + strings.Repeat(`"expired",`, 40) + `"expired"]`
	for _, tc := range []struct {
		name    string
		data    string
		labels  []string
		details []TermsDetail
	}{
		{"older servers", `{"terms_violation_labels":["expired"]}`, []string{"expired"}, nil},
		{"current servers", `{"terms_violation_labels":["distance_too_short","too_many_trips_by_day"],"terms_violation_error_details":[{"label":"distance_too_short"},{"label":"too_many_trips_by_day","metas":{"driver":5,"passenger":2,"limit":4}}]}`,
			[]string{"distance_too_short", "too_many_trips_by_day"},
			[]TermsDetail{{Label: "distance_too_short"}, {Label: "too_many_trips_by_day", Trips: counts(5, 2, 4)}}},
		{"counts as text and whole floats", `{"terms_violation_labels":["too_many_trips_by_day"],"terms_violation_error_details":[{"label":"too_many_trips_by_day","metas":{"driver":"6","passenger":0.0,"limit":4e0,"extra":[1]}}]}`,
			[]string{"too_many_trips_by_day"}, []TermsDetail{{Label: "too_many_trips_by_day", Trips: counts(6, 0, 4)}}},
		{"odd metas lose the counts only", `{"terms_violation_labels":["too_many_trips_by_day","a_new_reason","expired","too_close_trips"],"terms_violation_error_details":[{"label":"too_many_trips_by_day","metas":{"driver":-1,"passenger":2,"limit":4}},{"label":"a_new_reason","metas":{"driver":1.5,"passenger":1,"limit":4}},{"label":"expired","metas":null},{"label":"too_close_trips","metas":{"driver":1e300,"passenger":1,"limit":4}}]}`,
			[]string{"too_many_trips_by_day", "a_new_reason", "expired", "too_close_trips"},
			[]TermsDetail{{Label: "too_many_trips_by_day"}, {Label: "a_new_reason"}, {Label: "expired"}, {Label: "too_close_trips"}}},
		{"metas missing a count", `{"terms_violation_labels":["too_many_trips_by_day"],"terms_violation_error_details":[{"label":"too_many_trips_by_day","metas":{"driver":5,"limit":4}}]}`,
			[]string{"too_many_trips_by_day"}, []TermsDetail{{Label: "too_many_trips_by_day"}}},
		{"items that are not details", `{"terms_violation_labels":["expired"],"terms_violation_error_details":[null,3,"expired",{"label":7},{"metas":{}},{"label":""},{"label":"expired"}]}`,
			[]string{"expired"}, []TermsDetail{{Label: "expired"}}},
		{"details not an array", `{"terms_violation_labels":["expired"],"terms_violation_error_details":{"label":"expired"}}`, []string{"expired"}, nil},
		{"labels with odd items", `{"terms_violation_labels":["expired",null,{"x":1},"",2,"too_close_trips"]}`, []string{"expired", "too_close_trips"}, nil},
		{"labels not an array, details kept", `{"terms_violation_labels":"expired","terms_violation_error_details":[{"label":"expired"}]}`,
			[]string{"expired"}, []TermsDetail{{Label: "expired"}}},
		{"details alone", `{"terms_violation_error_details":[{"label":"too_close_trips"}]}`, []string{"too_close_trips"}, []TermsDetail{{Label: "too_close_trips"}}},
		{"a long label is cut", `{"terms_violation_labels":["` + long + `"]}`, []string{long[:maxLabelLen] + "…"}, nil},
		{"at most 16 labels", `{"terms_violation_labels":` + many + `}`, slices.Repeat([]string{"expired"}, maxTermsItems), nil},
		{"data a string", `"Unprocessable"`, nil, nil},
		{"no data", `null`, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeSubmission(422, []byte(envelope(tc.data)), nil)
			var e *Error
			if !errors.As(err, &e) || e.Kind != KindTermsViolation || e.Code != -32422 {
				t.Fatalf("got %v, want a terms violation", err)
			}
			if !reflect.DeepEqual(e.TermsLabels, tc.labels) || !reflect.DeepEqual(e.TermsDetails, tc.details) {
				t.Errorf("labels %q details %+v, want %q %+v", e.TermsLabels, e.TermsDetails, tc.labels, tc.details)
			}
		})
	}
}
