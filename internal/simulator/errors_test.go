package simulator

import (
	"strings"
	"testing"
	"time"
)

// TestErrorTable walks docs/registry.md's error table from the server side.
func TestErrorTable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		mod    func(*Config)
		setup  func(*testing.T, *fixture)
		method string
		path   string
		token  string
		body   string
		status int
		want   string
	}{
		{name: "400 invalid id", method: "GET", path: "/v3.3/journeys/" + strings.Repeat("x", 257), token: token, status: 400,
			want: `{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"Invalid params"`},
		{name: "400 bad body", method: "POST", path: "/v3.3/journeys", token: token, body: `{"operator_journey_id":"a"}`, status: 400, want: `-32602`},
		{name: "401 unknown token", method: "GET", path: "/v3.3/journeys/abc", token: "nope", status: 401, want: bodyUnauthorized},
		{name: "401 expired JWT", method: "GET", path: "/v3.3/journeys/abc", status: 401, want: bodyExpired,
			mod: func(c *Config) { c.JWTTTL = time.Nanosecond }, token: "JWT"},
		{name: "403 missing header", method: "GET", path: "/v3.3/journeys/abc", status: 403, want: bodyForbidden},
		{name: "403 no status permission", method: "GET", path: "/v3.3/journeys?status=ok", token: noStatus, status: 403, want: bodyForbidden},
		{name: "403 read-only cannot submit", method: "POST", path: "/v3.3/journeys", token: readOnly, body: clean("a1", epoch).String(), status: 403, want: `-32503`},
		{name: "404 unknown journey", method: "GET", path: "/v3.3/journeys/abc", token: token, status: 404, want: bodyNotFound},
		{name: "404 legacy knob", method: "GET", path: "/v3.3/journeys/abc", token: token, status: 404, want: bodyNotFoundOld,
			setup: func(_ *testing.T, f *fixture) { f.sim.SetFaults(Faults{LegacyNotFound: true}) }},
		{name: "404 unsupported version", method: "GET", path: "/v3.0/journeys/abc", token: token, status: 404, want: ""},
		{name: "409 duplicate", method: "POST", path: "/v3.3/journeys", token: token, body: clean("dup1", epoch.Add(-time.Hour)).String(), status: 409,
			want: `"code":-32509`, setup: func(t *testing.T, f *fixture) {
				if st, b := f.sim.Submit(1, []byte(clean("dup1", epoch.Add(-time.Hour)).String())); st != 201 {
					t.Fatalf("Submit = %d %s", st, b)
				}
			}},
		{name: "422 terms", method: "POST", path: "/v3.3/journeys", token: token, status: 422,
			body: func() string { b := clean("short1", epoch.Add(-time.Hour)); b.distance = 900; return b.String() }(),
			want: `{"jsonrpc":"2.0","id":1,"error":{"data":{"terms_violation_labels":["distance_too_short"],"terms_violation_error_details":[{"label":"distance_too_short"}]},"code":-32422,"message":"Unprocessable Request"}}`},
		{name: "422 terms, older servers", method: "POST", path: "/v3.3/journeys", token: token, status: 422,
			body:  func() string { b := clean("short2", epoch.Add(-time.Hour)); b.distance = 1500; return b.String() }(),
			want:  `{"jsonrpc":"2.0","id":1,"error":{"data":{"terms_violation_labels":["distance_too_short"]},"code":-32422,"message":"Unprocessable Request"}}`,
			setup: func(_ *testing.T, f *fixture) { f.sim.SetFaults(Faults{LegacyTerms: true}) }},
		{name: "429 too many", method: "GET", path: "/health", status: 429, want: bodyTooMany,
			mod:   func(c *Config) { c.Limits.Health = Limit{Requests: 1, Window: time.Hour} },
			setup: func(t *testing.T, f *fixture) { f.do(t, "GET", "/health", "", "") }},
		{name: "500 bad signature", method: "GET", path: "/v3.3/journeys/abc", status: 500, want: bodyInternal, token: "BADSIG"},
		{name: "503 maintenance", method: "GET", path: "/v3.3/journeys/abc", token: token, status: 503, want: bodyMaintenance,
			setup: func(_ *testing.T, f *fixture) { f.sim.SetFaults(Faults{Maintenance: true}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, tc.mod)
			if tc.setup != nil {
				tc.setup(t, f)
			}
			tok := tc.token
			switch tok {
			case "JWT":
				tok = f.jwt(t)
			case "BADSIG":
				tok = f.jwt(t)
				tok = tok[:len(tok)-4] + "AAAA"
			}
			r := f.do(t, tc.method, tc.path, tok, tc.body)
			if r.status != tc.status {
				t.Fatalf("status = %d, want %d; body %s", r.status, tc.status, r.body)
			}
			if tc.want == "" && len(r.body) != 0 {
				t.Fatalf("body = %q, want empty", r.body)
			}
			if !strings.Contains(string(r.body), tc.want) {
				t.Fatalf("body = %s, want %s", r.body, tc.want)
			}
		})
	}
}

func (f *fixture) jwt(t *testing.T) string {
	t.Helper()
	r := f.do(t, "POST", "/v3.3/auth/access_token", "", `{"access_key":"ak","secret_key":"sk"}`)
	if r.status != 201 {
		t.Fatalf("access_token = %d %s", r.status, r.body)
	}
	tok, _ := r.json(t)["access_token"].(string)
	if tok == "" {
		t.Fatalf("no access_token in %s", r.body)
	}
	return tok
}
