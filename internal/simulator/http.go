package simulator

import (
	"context"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxBodyBytes bounds request bodies; the registry's body parser refuses
// larger payloads with 413.
const maxBodyBytes = 1 << 20

// apiRequest is what a route handler sees.
type apiRequest struct {
	r        *http.Request
	version  string
	segments []string
	who      principal
	now      time.Time
}

type route struct {
	group   string
	auth    bool
	perm    string
	handler func(*Simulator, *apiRequest) answer
}

// Handler returns the whole API, /health, /metrics and the /_simulator/
// admin routes.
func (s *Simulator) Handler() http.Handler {
	mux := http.NewServeMux()
	s.registerAdmin(mux)
	mux.HandleFunc("/", s.serveAPI)
	return mux
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func splitPath(p string) []string {
	var out []string
	for seg := range strings.SplitSeq(strings.Trim(p, "/"), "/") {
		if v, err := url.PathUnescape(seg); err == nil {
			seg = v
		}
		out = append(out, seg)
	}
	return out
}

// resolveVersion maps the first path segment to a served version, or ""
// when the version is not served.
func (s *Simulator) resolveVersion(seg string) string {
	v, ok := strings.CutPrefix(seg, "v")
	if !ok {
		return ""
	}
	if v == "3" {
		return s.newest3
	}
	if slices.Contains(s.versions, v) {
		return v
	}
	return ""
}

func (s *Simulator) serveAPI(w http.ResponseWriter, r *http.Request) {
	rec := RequestRecord{Method: r.Method, Path: r.URL.Path, ClientIP: clientIP(r), HasAuthorization: r.Header.Get("Authorization") != ""}
	a := s.answerAPI(r, &rec)
	maps.Copy(w.Header(), a.header)
	if len(a.body) > 0 {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
	}
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body)
	rec.Time = time.Now()
	rec.Status = a.status
	s.requests.add(rec)
}

func (s *Simulator) answerAPI(r *http.Request, rec *RequestRecord) answer {
	f := s.Faults()
	if f.Maintenance {
		return rawAnswer(http.StatusServiceUnavailable, bodyMaintenance)
	}
	if err := sleep(r.Context(), f.Latency+s.jitter(f.LatencyJitter)); err != nil {
		return rawAnswer(http.StatusServiceUnavailable, bodyMaintenance)
	}
	req := &apiRequest{r: r, now: s.clock.Now()}
	segs := splitPath(r.URL.EscapedPath())
	var rt route
	switch {
	case len(segs) == 1 && segs[0] == "health":
		rt = route{group: groupHealth, handler: func(*Simulator, *apiRequest) answer { return rawAnswer(200, `{"status":"ok"}`) }}
	case len(segs) == 1 && segs[0] == "metrics":
		rt = route{group: groupHealth, handler: func(*Simulator, *apiRequest) answer { return answer{status: 200} }}
	default:
		req.version = s.resolveVersion(segs[0])
		req.segments = segs[1:]
		if req.version == "" {
			rt = s.unservedRoute(r.Method, req.segments)
			break
		}
		var ok bool
		if rt, ok = lookupRoute(req.version, r.Method, req.segments); !ok {
			rt = route{group: groupOther, handler: func(*Simulator, *apiRequest) answer { return rawAnswer(404, bodyNotFoundOld) }}
		}
	}
	rec.Group = rt.group

	// The servers check a bearer token before their rate limiter runs:
	// what the token middleware refuses (a 401 for an unknown or expired
	// token, the older servers' 500 for a bad signature) is never counted.
	// The token route has no such middleware, so its 401s are.
	who, outcome := principal{}, authMissing
	if rt.auth {
		who, outcome = s.auth.authenticate(r)
		if refused, ok := tokenRefusal(req.version, outcome); ok {
			return refused
		}
	}

	now := s.limitClock.Now()
	ip := clientIP(r)
	if left := s.stormRemaining(now); left > 0 && rt.group != groupHealth {
		return tooManyRequests(left, s.limiter.limit(rt.group).Requests, 0, now.Add(left))
	}
	d := s.limiter.take(ip, rt.group, now)
	if !d.allowed {
		return tooManyRequests(d.reset.Sub(now), d.limit, 0, d.reset)
	}
	a := s.authorizedAnswer(req, rt, who, outcome, f)
	setRateHeaders(&a, d.limit, d.remaining, d.reset)
	return a
}

// unservedRoute is a route of a version the servers do not serve: behind
// the token middleware and counted like the route of that shape in a served
// version, then 404 with an empty body, before any permission is looked at.
func (s *Simulator) unservedRoute(method string, segs []string) route {
	rt := route{group: groupOther}
	if served, ok := lookupRoute(s.newest3, method, segs); ok {
		rt.group, rt.auth = served.group, served.auth
	}
	rt.handler = func(*Simulator, *apiRequest) answer { return answer{status: http.StatusNotFound} }
	return rt
}

// tokenRefusal is the answer of the servers' token middleware: a request
// whose Authorization header holds an unknown, expired or badly signed
// token is answered there; one without the header goes on as anonymous.
func tokenRefusal(version string, outcome authOutcome) (answer, bool) {
	switch outcome {
	case authUnknown:
		if version == "2" {
			return rawAnswer(http.StatusUnauthorized, bodyV2Unauthorize), true
		}
		return rawAnswer(http.StatusUnauthorized, bodyUnauthorized), true
	case authExpired:
		return rawAnswer(http.StatusUnauthorized, bodyExpired), true
	case authBadSignature:
		// The registry's middleware lets the verification error escape.
		return internalError(), true
	}
	return answer{}, false
}

// authorizedAnswer runs a request the rate limiter let through.
func (s *Simulator) authorizedAnswer(req *apiRequest, rt route, who principal, outcome authOutcome, f Faults) answer {
	if req.version == "" {
		// Not served: the servers look at the version before anything else.
		return rt.handler(s, req)
	}
	if s.chance(f.ServerErrorRatio) {
		return internalError()
	}
	if rt.auth {
		v2 := req.version == "2"
		switch {
		case outcome == authMissing:
			return forbidden(v2) // anonymous
		case rt.perm != "" && !who.can(rt.perm):
			return forbidden(v2)
		}
		req.who = who
	}
	a := rt.handler(s, req)
	return s.corrupt(a, f)
}

func forbidden(v2 bool) answer {
	if v2 {
		return rawAnswer(http.StatusForbidden, bodyV2Forbidden)
	}
	return rawAnswer(http.StatusForbidden, bodyForbidden)
}

func tooManyRequests(wait time.Duration, limit, remaining int, reset time.Time) answer {
	a := rawAnswer(http.StatusTooManyRequests, bodyTooMany)
	setRateHeaders(&a, limit, remaining, reset)
	a.header.Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
	return a
}

func setRateHeaders(a *answer, limit, remaining int, reset time.Time) {
	if a.header == nil {
		a.header = http.Header{}
	}
	a.header.Set("X-RateLimit-Limit", strconv.Itoa(limit))
	a.header.Set("X-RateLimit-Remaining", strconv.Itoa(max(0, remaining)))
	// A reset that is not a whole second away is rounded up so clients
	// waiting until it never arrive early.
	a.header.Set("X-RateLimit-Reset", strconv.FormatInt(int64(math.Ceil(float64(reset.UnixNano())/1e9)), 10))
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// readBody reads a bounded body; the answer is set when reading failed.
func readBody(r *http.Request) ([]byte, *answer) {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		a := invalidParams("unreadable body")
		return nil, &a
	}
	if len(b) > maxBodyBytes {
		a := rawAnswer(http.StatusRequestEntityTooLarge, bodyTooLarge)
		return nil, &a
	}
	return b, nil
}
