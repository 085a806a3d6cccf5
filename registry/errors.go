package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Kind classifies a failed call by what a caller should do about it, so the
// scheduler can react (wait, stop polling, count a vanished journey) without
// parsing HTTP codes or the registry's JSON-RPC codes itself.
type Kind int

const (
	KindUnknown            Kind = iota
	KindAuthExpired             // 401 from the auth middleware: the JWT expired; renew it
	KindUnauthorized            // 401 -32501: the token or key pair is wrong or revoked
	KindForbidden               // 403 -32503: missing header or missing permission
	KindNotFound                // 404 -32504 or {"code":404}: the journey or certificate does not exist
	KindUnsupportedVersion      // 404 with an empty body: the API version is not served
	KindRateLimited             // 429: wait RetryAfter before sending anything else
	KindUnavailable             // 503 or /health down: maintenance or outage
	KindBadRequest              // 400 -32602: the request itself is wrong
	KindConflict                // 409 -32509: duplicate journey
	KindTermsViolation          // 422 -32422: terms of use violated, labels attached
	KindServerError             // 5xx other than 503, including -32603 for a badly signed token
	KindDecode                  // a body that could not be read or understood
	KindTransport               // no answer: connection refused, reset, timed out
)

var kindNames = [...]string{
	KindUnknown:            "unknown",
	KindAuthExpired:        "auth_expired",
	KindUnauthorized:       "unauthorized",
	KindForbidden:          "forbidden",
	KindNotFound:           "not_found",
	KindUnsupportedVersion: "unsupported_version",
	KindRateLimited:        "rate_limited",
	KindUnavailable:        "unavailable",
	KindBadRequest:         "bad_request",
	KindConflict:           "conflict",
	KindTermsViolation:     "terms_violation",
	KindServerError:        "server_error",
	KindDecode:             "decode_error",
	KindTransport:          "transport_error",
}

// String gives a bounded, label-safe name for the kind.
func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return kindNames[KindUnknown]
	}
	return kindNames[k]
}

// Retryable tells whether sending the same request again may succeed.
func (k Kind) Retryable() bool {
	switch k {
	case KindRateLimited, KindUnavailable, KindServerError, KindDecode, KindTransport:
		return true
	}
	return false
}

// Sentinels for errors.Is; an *Error matches the sentinel of its Kind.
var (
	ErrAuthExpired        = kindSentinel(KindAuthExpired)
	ErrUnauthorized       = kindSentinel(KindUnauthorized)
	ErrForbidden          = kindSentinel(KindForbidden)
	ErrNotFound           = kindSentinel(KindNotFound)
	ErrUnsupportedVersion = kindSentinel(KindUnsupportedVersion)
	ErrRateLimited        = kindSentinel(KindRateLimited)
	ErrUnavailable        = kindSentinel(KindUnavailable)
	ErrBadRequest         = kindSentinel(KindBadRequest)
	ErrConflict           = kindSentinel(KindConflict)
	ErrTermsViolation     = kindSentinel(KindTermsViolation)
	ErrServerError        = kindSentinel(KindServerError)
	ErrDecode             = kindSentinel(KindDecode)
	ErrTransport          = kindSentinel(KindTransport)
)

type kindSentinel Kind

func (k kindSentinel) Error() string { return "registry: " + Kind(k).String() }

// Error is every failure the client returns. It carries what the registry
// said (HTTP status, its code and message) but never a credential.
type Error struct {
	Kind       Kind
	Endpoint   string // the client's name for the call, e.g. "journey_status"
	HTTPStatus int    // 0 when no answer came back
	Code       int    // the registry's own code: JSON-RPC (-32504) or HTTP-like (404)
	Message    string
	// RetryAfter is how long the registry asked us to wait (429), zero when
	// it did not say.
	RetryAfter time.Duration
	// TermsLabels lists the terms-violation labels of a 422 answer.
	TermsLabels []string
	// TermsDetails are the 422's terms_violation_error_details, which newer
	// servers add: one per label, with the counts of too_many_trips_by_day.
	TermsDetails []TermsDetail
	Err          error // the underlying cause, for transport and decode errors
}

// TermsDetail is one entry of a 422's terms_violation_error_details.
type TermsDetail struct {
	Label string
	// Trips holds too_many_trips_by_day's metas, nil when the registry
	// gave none or something else than three counts.
	Trips *TripCounts
}

// TripCounts are what too_many_trips_by_day compared: the other trips the
// driver and the passenger each had that day, and the most allowed.
type TripCounts struct {
	Driver, Passenger, Limit int
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("registry ")
	b.WriteString(e.Endpoint)
	b.WriteString(": ")
	b.WriteString(e.Kind.String())
	if e.HTTPStatus != 0 {
		fmt.Fprintf(&b, " (HTTP %d", e.HTTPStatus)
		if e.Code != 0 {
			fmt.Fprintf(&b, ", code %d", e.Code)
		}
		b.WriteString(")")
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, "; retry after %s", e.RetryAfter)
	}
	if len(e.TermsLabels) > 0 {
		fmt.Fprintf(&b, "; terms labels %v", e.TermsLabels)
	}
	for _, d := range e.TermsDetails {
		if d.Trips != nil {
			fmt.Fprintf(&b, "; %s: driver %d, passenger %d, limit %d", d.Label, d.Trips.Driver, d.Trips.Passenger, d.Trips.Limit)
		}
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrNotFound) and friends work.
func (e *Error) Is(target error) bool {
	k, ok := target.(kindSentinel)
	return ok && Kind(k) == e.Kind
}

// KindOf returns the Kind of any error the client returned, KindUnknown for
// others (a cancelled context, say).
func KindOf(err error) Kind {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Kind
	}
	return KindUnknown
}

// RetryAfterOf returns how long the registry asked to wait, if it did.
func RetryAfterOf(err error) time.Duration {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.RetryAfter
	}
	return 0
}

// maxMessageLen bounds what we keep of a registry message: the body is
// untrusted and ends up in logs.
const maxMessageLen = 256

// errorBody covers every error shape docs/registry.md lists:
//
//	{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"…","data":…}}
//	{"error":{"code":401,"data":"Error","message":"Unauthorized Error"}}
//	{"error":{"code":429,"message":"Too many requests"}}
//	{"code":404,"error":"Not found"}
//	{"code":503,"error":"Service Unavailable"}
type errorBody struct {
	Code  json.RawMessage `json:"code"`
	Error json.RawMessage `json:"error"`
}

type rpcError struct {
	Code    json.RawMessage `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

type parsedError struct {
	code         int
	message      string
	termsLabels  []string
	termsDetails []TermsDetail
	nested       bool // the code came inside "error", not beside it
}

// parseErrorBody extracts what it can; an unreadable body is not an error in
// itself, the HTTP status still classifies the answer.
func parseErrorBody(body []byte) parsedError {
	var p parsedError
	var eb errorBody
	if len(body) == 0 || json.Unmarshal(body, &eb) != nil {
		return p
	}
	p.code = looseInt(eb.Code)
	if len(eb.Error) == 0 {
		return p
	}
	var s string
	if json.Unmarshal(eb.Error, &s) == nil {
		p.message = s
		return p
	}
	var re rpcError
	if json.Unmarshal(eb.Error, &re) != nil {
		return p
	}
	if c := looseInt(re.Code); c != 0 {
		p.code = c
		p.nested = true
	}
	p.message = re.Message
	if p.message == "" {
		var d string
		if json.Unmarshal(re.Data, &d) == nil {
			p.message = d
		}
	}
	p.termsLabels, p.termsDetails = parseTerms(re.Data)
	return p
}

// Bounds on what is kept of a 422's terms: the body is untrusted, and the
// registry knows four reasons.
const (
	maxTermsItems = 16
	maxLabelLen   = 64
)

// parseTerms reads a 422's data leniently: what is not a string label or
// a well-formed detail is skipped, never an error, so one odd item loses
// nothing else. The labels come from terms_violation_labels, or from the
// details when the registry sent only those.
func parseTerms(raw json.RawMessage) ([]string, []TermsDetail) {
	var data struct {
		Labels  json.RawMessage `json:"terms_violation_labels"`
		Details json.RawMessage `json:"terms_violation_error_details"`
	}
	if json.Unmarshal(raw, &data) != nil {
		return nil, nil
	}
	var labels []string
	for _, item := range rawItems(data.Labels) {
		var l string
		if json.Unmarshal(item, &l) == nil && l != "" {
			labels = append(labels, truncate(l, maxLabelLen))
		}
	}
	var details []TermsDetail
	for _, item := range rawItems(data.Details) {
		var d struct {
			Label json.RawMessage `json:"label"`
			Metas json.RawMessage `json:"metas"`
		}
		var label string
		if json.Unmarshal(item, &d) != nil || json.Unmarshal(d.Label, &label) != nil || label == "" {
			continue
		}
		details = append(details, TermsDetail{Label: truncate(label, maxLabelLen), Trips: tripCounts(d.Metas)})
	}
	if len(labels) == 0 {
		for _, d := range details {
			labels = append(labels, d.Label)
		}
	}
	return labels, details
}

// rawItems is the first maxTermsItems items of a JSON array, none if raw
// is anything else.
func rawItems(raw json.RawMessage) []json.RawMessage {
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return nil
	}
	return items[:min(len(items), maxTermsItems)]
}

// tripCounts reads {driver, passenger, limit} when all three are counts.
func tripCounts(raw json.RawMessage) *TripCounts {
	var m struct {
		Driver    json.RawMessage `json:"driver"`
		Passenger json.RawMessage `json:"passenger"`
		Limit     json.RawMessage `json:"limit"`
	}
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	driver, ok1 := count(m.Driver)
	passenger, ok2 := count(m.Passenger)
	limit, ok3 := count(m.Limit)
	if !ok1 || !ok2 || !ok3 {
		return nil
	}
	return &TripCounts{Driver: driver, Passenger: passenger, Limit: limit}
}

// count reads a whole number from 0 to MaxInt32, as a JSON number or a
// numeric string (the registry sends some integers as text).
func count(raw json.RawMessage) (int, bool) {
	var n json.Number
	if json.Unmarshal(raw, &n) != nil {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return 0, false
		}
		n = json.Number(strings.TrimSpace(s))
	}
	f, err := n.Float64()
	if err != nil || f < 0 || f > math.MaxInt32 || f != math.Trunc(f) {
		return 0, false
	}
	return int(f), true
}

// looseInt reads a code that may be a number or a numeric string.
func looseInt(raw json.RawMessage) int {
	if len(raw) == 0 {
		return 0
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		if i, err := n.Int64(); err == nil {
			return int(i)
		}
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if i, err := strconv.Atoi(s); err == nil {
			return i
		}
	}
	return 0
}

// classify turns a non-2xx answer into an *Error.
func classify(endpoint string, status int, body []byte, header http.Header, now time.Time) *Error {
	p := parseErrorBody(body)
	e := &Error{
		Endpoint:     endpoint,
		HTTPStatus:   status,
		Code:         p.code,
		Message:      truncate(p.message, maxMessageLen),
		TermsLabels:  p.termsLabels,
		TermsDetails: p.termsDetails,
	}
	switch {
	case status == http.StatusUnauthorized:
		// The auth middleware answers an expired JWT with an HTTP-like 401
		// inside "error"; the RPC layer answers a wrong credential with
		// -32501, and the old v2 servers with a top-level 401.
		if p.nested && p.code == http.StatusUnauthorized {
			e.Kind = KindAuthExpired
		} else {
			e.Kind = KindUnauthorized
		}
	case status == http.StatusForbidden:
		e.Kind = KindForbidden
	case status == http.StatusNotFound:
		// An unsupported version answers 404 with nothing at all; an
		// unknown journey always says so.
		if len(strings.TrimSpace(string(body))) == 0 {
			e.Kind = KindUnsupportedVersion
		} else {
			e.Kind = KindNotFound
		}
	case status == http.StatusTooManyRequests:
		e.Kind = KindRateLimited
		e.RetryAfter = retryAfter(header, now)
	case status == http.StatusServiceUnavailable:
		e.Kind = KindUnavailable
		e.RetryAfter = retryAfter(header, now)
	case status == http.StatusBadRequest:
		e.Kind = KindBadRequest
	case status == http.StatusConflict:
		e.Kind = KindConflict
	case status == http.StatusUnprocessableEntity:
		e.Kind = KindTermsViolation
	case status >= 500:
		e.Kind = KindServerError
	default:
		e.Kind = KindUnknown
	}
	return e
}

// retryAfter reads Retry-After as seconds or an HTTP date, falling back to
// X-RateLimit-Reset when the registry gave only that.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 && secs < 1e6 {
			return time.Duration(secs * float64(time.Second))
		}
		if t, err := http.ParseTime(v); err == nil {
			if d := t.Sub(now); d > 0 {
				return d
			}
			return 0
		}
	}
	if rl := parseRateLimit(h); rl.Present && !rl.Reset.IsZero() {
		if d := rl.Reset.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
