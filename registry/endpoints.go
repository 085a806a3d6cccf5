package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Endpoint names, as Observation.Endpoint and Error.Endpoint give them.
const (
	EndpointJourneyStatus   = "journey_status"
	EndpointJourneyStatusV2 = "journey_status_v2"
	EndpointJourneyList     = "journey_list"
	EndpointCertificate     = "certificate"
	EndpointHealth          = "health"
	EndpointAccessToken     = "access_token"
)

// Endpoints lists every endpoint name, for callers that pre-declare series.
var Endpoints = []string{
	EndpointJourneyStatus, EndpointJourneyStatusV2, EndpointJourneyList,
	EndpointCertificate, EndpointHealth, EndpointAccessToken, EndpointSubmit,
}

func (c *Client) versioned(segments ...string) string {
	var p strings.Builder
	p.WriteString("/v" + c.version)
	for _, s := range segments {
		p.WriteString("/" + url.PathEscape(s))
	}
	return p.String()
}

func badRequest(endpoint, msg string) error {
	return &Error{Kind: KindBadRequest, Endpoint: endpoint, Message: msg}
}

// JourneyStatus fetches the status of a journey by the operator's id.
func (c *Client) JourneyStatus(ctx context.Context, operatorJourneyID string) (JourneyStatus, error) {
	if err := CheckOperatorJourneyID(operatorJourneyID); err != nil {
		return JourneyStatus{}, badRequest(EndpointJourneyStatus, err.Error())
	}
	var js JourneyStatus
	err := c.do(ctx, call{
		endpoint: EndpointJourneyStatus, group: groupStatus, method: http.MethodGet,
		path: c.versioned("journeys", operatorJourneyID), auth: true, retries: true,
		decode: func(b []byte) (err error) { js, err = DecodeJourneyStatus(b); return err },
	})
	return js, err
}

// JourneyStatusV2 fetches a status on the v2 API, by the registry's own
// journey_id.
func (c *Client) JourneyStatusV2(ctx context.Context, journeyID string) (JourneyStatusV2, error) {
	journeyID, err := CanonicalV2JourneyID(journeyID)
	if err != nil {
		return JourneyStatusV2{}, badRequest(EndpointJourneyStatusV2, err.Error())
	}
	var js JourneyStatusV2
	err = c.do(ctx, call{
		endpoint: EndpointJourneyStatusV2, group: groupStatus, method: http.MethodGet,
		path: "/v2/journeys/" + url.PathEscape(journeyID), auth: true, retries: true,
		decode: func(b []byte) (err error) { js, err = DecodeJourneyStatusV2(b); return err },
	})
	return js, err
}

// ListQuery selects one page of GET /journeys. The registry filters on the
// journey's start time, Start ≤ start < End; End may not be later than
// ListEndLimit, Start not earlier than ListStartLimit (SafeListWindow keeps
// clear of both). Zero Start and End
// leave its defaults (the 7 days before ListEndLimit), zero Limit its
// default (50).
type ListQuery struct {
	Status string
	Start  time.Time
	End    time.Time
	Limit  int
	Offset int
}

// Statuses the list endpoint answers with an error: terms_violation_error
// and unknown with a 400, expired with a 500 (docs/registry.md).
var unlistable = map[string]string{
	"terms_violation_error": "the registry refuses it (400)",
	"unknown":               "the registry refuses it (400)",
	"expired":               "the registry fails on it (500)",
}

// Listable tells whether the list endpoint accepts status as a filter.
func Listable(status string) bool { return UnlistableReason(status) == "" }

// UnlistableReason says why status cannot be listed, or "" when it can.
func UnlistableReason(status string) string {
	if status == "" {
		return "a status is required"
	}
	return unlistable[status]
}

// ListJourneys fetches one page of operator_journey_ids.
func (c *Client) ListJourneys(ctx context.Context, q ListQuery) ([]string, error) {
	if why := UnlistableReason(q.Status); why != "" {
		return nil, badRequest(EndpointJourneyList, fmt.Sprintf("status %q cannot be listed: %s", q.Status, why))
	}
	if q.Limit < 0 || q.Offset < 0 {
		return nil, badRequest(EndpointJourneyList, "negative limit or offset")
	}
	v := url.Values{"status": {q.Status}}
	if !q.Start.IsZero() {
		v.Set("start", listTime(q.Start))
	}
	if !q.End.IsZero() {
		v.Set("end", listTime(q.End))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Offset > 0 {
		v.Set("offset", strconv.Itoa(q.Offset))
	}
	var ids []string
	err := c.do(ctx, call{
		endpoint: EndpointJourneyList, group: groupStatus, method: http.MethodGet,
		path: c.versioned("journeys"), query: v, auth: true, retries: true,
		decode: func(b []byte) (err error) { ids, err = DecodeJourneyList(b); return err },
	})
	return ids, err
}

// DefaultListLimit is the page size the registry uses when none is given.
const DefaultListLimit = 50

// maxListPages stops a list walk that never ends; maxStalePages stops one
// that keeps returning ids it already gave (a registry ignoring offset).
const (
	maxListPages  = 10_000
	maxStalePages = 3
)

// ListAllJourneys walks every page of a query, q.Offset onwards, until a
// short page. Pages are offsets into an unordered result that can shift
// between requests, so ids are de-duplicated; an id that shifted across a
// page boundary can still be missed, so a caller that must not miss one
// lists again later.
func (c *Client) ListAllJourneys(ctx context.Context, q ListQuery) ([]string, error) {
	if q.Limit <= 0 {
		q.Limit = DefaultListLimit
	}
	seen := map[string]bool{}
	var all []string
	stale := 0
	for range maxListPages {
		page, err := c.ListJourneys(ctx, q)
		if err != nil {
			return all, err
		}
		fresh := 0
		for _, id := range page {
			if !seen[id] {
				seen[id] = true
				all = append(all, id)
				fresh++
			}
		}
		if fresh == 0 {
			stale++
		} else {
			stale = 0
		}
		if len(page) < q.Limit || stale >= maxStalePages {
			return all, nil
		}
		q.Offset += len(page)
	}
	return all, nil
}

// Certificate fetches and checks an attestation. The route is
// gone from the specs since 3.2 but still served.
func (c *Client) Certificate(ctx context.Context, uuid string) (Certificate, error) {
	if !ValidCertificateUUID(uuid) {
		return Certificate{}, badRequest(EndpointCertificate, fmt.Sprintf("certificate id %q is not a UUID", truncate(uuid, 64)))
	}
	var cert Certificate
	err := c.do(ctx, call{
		endpoint: EndpointCertificate, group: groupOther, method: http.MethodGet,
		path: c.versioned("certificates", uuid), auth: true, retries: true,
		decode: func(b []byte) (err error) { cert, err = DecodeCertificate(b); return err },
	})
	return cert, err
}

// Health asks the registry's /health. It is a probe: no retries, so the
// answer says how the registry is now. A 503 is ErrUnavailable. It has its
// own budget, as it has its own counter on the servers: it is never held
// back by the status budget or another route's 429.
func (c *Client) Health(ctx context.Context) (Health, error) {
	var h Health
	err := c.do(ctx, call{
		endpoint: EndpointHealth, group: groupHealth, method: http.MethodGet,
		path:   "/health",
		decode: func(b []byte) (err error) { h, err = DecodeHealth(b); return err },
	})
	return h, err
}

// exchangeKeys trades the key pair for a JWT at POST /auth/access_token.
func (c *Client) exchangeKeys(ctx context.Context) (string, error) {
	body, err := json.Marshal(map[string]string{
		"access_key": c.cfg.Auth.AccessKey,
		"secret_key": c.cfg.Auth.SecretKey.reveal(),
	})
	if err != nil {
		return "", err
	}
	var tok string
	err = c.do(ctx, call{
		endpoint: EndpointAccessToken, group: groupToken, method: http.MethodPost,
		path: c.versioned("auth", "access_token"), body: body, retries: true,
		decode: func(b []byte) error {
			var r struct {
				AccessToken string `json:"access_token"`
			}
			if err := json.Unmarshal(b, &r); err != nil {
				return fmt.Errorf("access token body: %w", err)
			}
			if r.AccessToken == "" {
				return fmt.Errorf("access token body: no access_token")
			}
			tok = r.AccessToken
			return nil
		},
	})
	return tok, err
}
