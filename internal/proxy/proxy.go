// Package proxy is the submission proxy: a reverse proxy in front of one
// registry, to which an operator points its registry base URL. Every call
// is forwarded untouched; a journey submission (POST /v3.x/journeys) is
// also registered with the answer the registry gave (201 pending, 409
// already known, 422 terms_violation_error with its reasons), so an
// `expired` rejection is counted the moment it happens. A cancel (POST
// /v3.x/journeys/{id}/cancel) or a PATCH (/v3.x/journeys/{id}) the
// registry accepted (200) is applied to the journey at once: canceled, or
// pending again with its checks to run anew.
//
// The proxy adds no failure mode: whatever happens to tracking, the
// operator gets the registry's answer unchanged. Only what the proxy must
// refuse to buffer (a body over its limit, a client too slow to send it)
// and a registry that cannot be reached (502) or does not answer in time
// (504) get an answer of the proxy's own, in the registry's error shape
// {"code":…,"error":"…"}.
package proxy

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/starts"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
	"github.com/covoiturage-exporter/covoiturage_exporter/registry"
)

// Registrar starts following journeys in the proxy's registry; the
// exporter's handle on the registry implements it. It returns once the
// registrations are durable, so an id the proxy relays an answer for is on
// disk first (unless the tracking timeout ran out).
type Registrar interface {
	Register(ctx context.Context, regs []tracker.Registration) (added int, err error)
	// Relayed applies c, which the registry accepted, to its journey,
	// registering it from the proxy if it is not tracked; it returns once
	// the change is durable, as Register does.
	Relayed(ctx context.Context, c tracker.Change) (added bool, err error)
}

// Observer is told what the proxy does; the collector's ProxyMetrics
// implements it. Its methods must be fast and safe for concurrent use.
type Observer interface {
	// Submission: a submission answered with code (0: the operator hung
	// up first).
	Submission(registry string, code int)
	// Tracked: registrations from a submission's answer; added were new,
	// already were tracked before.
	Tracked(registry string, added, already int)
	// TrackingFailed: a submission, cancel or PATCH relayed without being
	// tracked, for reason TrackingError or TrackingTimeout.
	TrackingFailed(registry, reason string)
	// Changed: a cancel or PATCH the registry accepted was applied to its
	// journey; call is CallCancel or CallPatch.
	Changed(registry, call string)
	// Forwarded: a request other than a submission.
	Forwarded(registry string)
	// AddedLatency: the time the proxy added to a submission.
	AddedLatency(registry string, d time.Duration)
}

// Reasons a submission could not be tracked, given to
// Observer.TrackingFailed.
const (
	TrackingError   = "error"   // the registrar failed or panicked, or the answer could not be read
	TrackingTimeout = "timeout" // the registrar did not return within the tracking timeout
)

// The calls given to Observer.Changed.
const (
	CallCancel = "cancel"
	CallPatch  = "patch"
)

type noObserver struct{}

func (noObserver) Submission(string, int)             {}
func (noObserver) Tracked(string, int, int)           {}
func (noObserver) TrackingFailed(string, string)      {}
func (noObserver) Changed(string, string)             {}
func (noObserver) Forwarded(string)                   {}
func (noObserver) AddedLatency(string, time.Duration) {}

// Defaults of Config.
const (
	DefaultTrackTimeout = 2 * time.Second
	DefaultMaxBodyBytes = 10 << 20
	DefaultReadTimeout  = 30 * time.Second
	// DefaultResponseTimeout is the registry's request_timeout default.
	DefaultResponseTimeout = 15 * time.Second
)

const (
	// maxAnswerBytes bounds what is buffered of a 422 answer to read its
	// labels; the registry's answers are a few hundred bytes.
	maxAnswerBytes = 1 << 20
	// maxPendingRegistrations bounds the registrations still running after
	// their timeout, so a registrar stuck on a dead disk costs a bounded
	// number of goroutines rather than one per submission.
	maxPendingRegistrations = 1024
)

// Config configures a Proxy.
type Config struct {
	// Registry is the registry's name in the configuration, given to the
	// Observer.
	Registry string
	// Target is the registry's base URL, e.g.
	// https://api.covoiturage.beta.gouv.fr; the request path is appended.
	Target *url.URL
	// Registrar registers the journeys of observed submissions.
	Registrar Registrar
	Logger    *slog.Logger
	// Observer is optional.
	Observer Observer
	// TrackTimeout bounds how long a submission's answer waits for its
	// registration; after it the answer is relayed anyway. Default 2 s.
	TrackTimeout time.Duration
	// MaxBodyBytes bounds a request body, which a submission's is read into
	// memory; larger bodies get 413. Default 10 MiB (the registry itself
	// refuses bodies over 1 MiB).
	MaxBodyBytes int64
	// ReadTimeout bounds the time to receive a request body; a slower
	// client gets 408. It needs the ResponseWriter of net/http's server
	// (http.ResponseController); elsewhere the server's own timeouts apply.
	// Default 30 s.
	ReadTimeout time.Duration
	// ResponseTimeout bounds the wait for the registry's answer (its
	// headers) once a request is fully sent; past it the operator gets
	// 504. The registry answers a submission in a second or two, so the
	// default, 15 s as the exporter's own request_timeout, only cuts off a
	// registry that holds the connection and never answers. It applies to
	// an *http.Transport (the default); another Transport keeps its own.
	ResponseTimeout time.Duration
	// Transport sends the forwarded requests; default a clone of
	// http.DefaultTransport.
	Transport http.RoundTripper
	// Now is the registry's time, which bounds a submitted start as a
	// pushed one's (the demo registry's clock under --demo); default the
	// wall clock.
	Now func() time.Time
}

// Proxy forwards an operator's calls to one registry and tracks its
// submissions. It is an http.Handler meant to be mounted with its prefix
// stripped (http.StripPrefix("/proxy/"+name, p)), so the request path is
// the registry's own (/v3.3/journeys…).
type Proxy struct {
	name         string
	registrar    Registrar
	logger       *slog.Logger
	metrics      Observer
	trackTimeout time.Duration
	readTimeout  time.Duration
	respTimeout  time.Duration
	now          func() time.Time
	maxBody      int64
	pending      chan struct{}
	rp           *httputil.ReverseProxy
}

// New checks cfg and returns its proxy.
func New(cfg Config) (*Proxy, error) {
	switch {
	case cfg.Registry == "":
		return nil, errors.New("proxy: no registry name")
	case cfg.Registrar == nil:
		return nil, errors.New("proxy: no registrar")
	case cfg.Target == nil:
		return nil, errors.New("proxy: no target URL")
	case cfg.Target.Scheme != "http" && cfg.Target.Scheme != "https":
		return nil, fmt.Errorf("proxy: target URL scheme %q, want http or https", cfg.Target.Scheme)
	case cfg.Target.Host == "":
		return nil, errors.New("proxy: target URL has no host")
	case cfg.Target.User != nil:
		// Credentials in a URL end up in logs; the operator's own
		// Authorization header is what the registry reads.
		return nil, errors.New("proxy: target URL must not hold credentials")
	case cfg.Target.RawQuery != "" || cfg.Target.Fragment != "":
		return nil, errors.New("proxy: target URL must not have a query or fragment")
	case cfg.TrackTimeout < 0, cfg.ReadTimeout < 0, cfg.ResponseTimeout < 0, cfg.MaxBodyBytes < 0:
		return nil, errors.New("proxy: negative timeout or body limit")
	}
	p := &Proxy{
		name:         cfg.Registry,
		registrar:    cfg.Registrar,
		logger:       cfg.Logger,
		metrics:      cfg.Observer,
		trackTimeout: orDefault(cfg.TrackTimeout, DefaultTrackTimeout),
		readTimeout:  orDefault(cfg.ReadTimeout, DefaultReadTimeout),
		respTimeout:  orDefault(cfg.ResponseTimeout, DefaultResponseTimeout),
		now:          cfg.Now,
		maxBody:      orDefault(cfg.MaxBodyBytes, DefaultMaxBodyBytes),
		pending:      make(chan struct{}, maxPendingRegistrations),
	}
	if p.logger == nil {
		p.logger = slog.New(slog.DiscardHandler)
	}
	if p.metrics == nil {
		p.metrics = noObserver{}
	}
	if p.now == nil {
		p.now = time.Now
	}
	transport := cfg.Transport
	if transport == nil {
		transport = http.DefaultTransport
	}
	if t, ok := transport.(*http.Transport); ok {
		// Without it, a registry that takes the request and never
		// answers holds the operator's submission, and a goroutine and
		// a connection of the exporter, for as long as the operator waits.
		t = t.Clone()
		t.ResponseHeaderTimeout = p.respTimeout
		transport = t
	}
	target := *cfg.Target
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			// ReverseProxy drops query parameters it cannot parse; the
			// registry should see exactly what the operator sent.
			pr.Out.URL.RawQuery = pr.In.URL.RawQuery
			// X-Forwarded-For is not set: the registry counts its rate
			// limits on the address it sees (the exporter's), and the
			// operator's internal addresses are none of its business.
			pr.SetURL(&target)
		},
		Transport:      timedTransport{next: transport},
		ModifyResponse: p.observeAnswer,
		ErrorHandler:   p.forwardFailed,
		ErrorLog:       slog.NewLogLogger(p.logger.Handler(), slog.LevelWarn),
		// Without a pool, every relayed answer allocates a 32 KiB buffer.
		BufferPool: &bufferPool{},
	}
	return p, nil
}

func orDefault[T time.Duration | int64](v, d T) T {
	if v == 0 {
		return d
	}
	return v
}

// exchange is what the proxy learns about one request on its way through
// ReverseProxy; it travels in the request context.
type exchange struct {
	submission bool
	journey    journeyRef // ok only for a submission whose body names a valid id
	// op is a cancel or PATCH of journey changeID, 0 for any other call;
	// patchStart is the start.datetime of a PATCH's body.
	op         tracker.Operation
	changeID   string
	patchStart time.Time
	body       *clientBody
	upstream   time.Duration // time spent waiting for the registry
	code       int           // the status the operator got
}

type exchangeKey struct{}

func exchangeOf(ctx context.Context) *exchange {
	ex, _ := ctx.Value(exchangeKey{}).(*exchange)
	return ex
}

// ServeHTTP forwards r to the registry.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	began := time.Now()
	ex := &exchange{submission: r.Method == http.MethodPost && isSubmitPath(r.URL.Path)}
	if !ex.submission {
		ex.op, ex.changeID = changeCall(r.Method, r.URL.EscapedPath())
	}
	defer func() {
		// Deferred so an aborted relay (a registry that hangs up mid-body)
		// is counted too.
		if !ex.submission {
			p.metrics.Forwarded(p.name)
			return
		}
		p.metrics.Submission(p.name, ex.code)
		p.metrics.AddedLatency(p.name, time.Since(began)-ex.upstream)
	}()

	if r.ContentLength > p.maxBody {
		p.refuse(w, ex, http.StatusRequestEntityTooLarge,
			fmt.Sprintf("request body of %d bytes is over the proxy's limit of %d bytes: not forwarded", r.ContentLength, p.maxBody))
		return
	}
	out := r.WithContext(context.WithValue(r.Context(), exchangeKey{}, ex))
	if r.ContentLength != 0 {
		// Only a request with a body gets a read deadline: on a bodyless
		// one the server is already reading the connection in the
		// background, and a deadline there would cancel the request. Once
		// the body is read to its end, HTTP/1 lifts the deadline and
		// HTTP/2 applies it to the body alone, so a slow registry is not
		// taken for a slow client. Where no deadline can be set (not
		// net/http's ResponseWriter), the server's own timeouts apply.
		_ = http.NewResponseController(w).SetReadDeadline(began.Add(p.readTimeout))
		ex.body = &clientBody{rc: http.MaxBytesReader(w, r.Body, p.maxBody)}
		out.Body = ex.body
	}
	if ex.submission || ex.op == tracker.Patch {
		if !p.bufferBody(w, out, ex) {
			return
		}
	}
	p.rp.ServeHTTP(w, out)
}

// bufferBody reads a submission's or a PATCH's body, notes the journey or
// the start it names and makes the buffered copy the body to forward.
// False when the body could not be read; the operator then has its
// answer.
func (p *Proxy) bufferBody(w http.ResponseWriter, out *http.Request, ex *exchange) bool {
	var body []byte
	if ex.body != nil {
		var err error
		body, err = io.ReadAll(ex.body)
		if err != nil {
			code, msg := p.clientFault(err)
			p.refuse(w, ex, code, msg+": not forwarded")
			return false
		}
	}
	if ex.submission {
		ex.journey = p.readJourney(body)
	} else {
		ex.patchStart = p.readPatchStart(body)
	}
	out.Body = http.NoBody
	if len(body) > 0 {
		out.Body = io.NopCloser(bytes.NewReader(body))
	}
	out.ContentLength = int64(len(body))
	out.TransferEncoding = nil
	return true
}

// readJourney never lets a body it cannot read stop the submission.
func (p *Proxy) readJourney(body []byte) (j journeyRef) {
	defer func() {
		if v := recover(); v != nil {
			p.logger.Warn("proxy: reading a submission panicked; it is forwarded untracked", "registry", p.name, "panic", v)
			p.metrics.TrackingFailed(p.name, TrackingError)
			j = journeyRef{}
		}
	}()
	return parseJourney(body, p.now())
}

// readPatchStart never lets a body it cannot read stop the PATCH.
func (p *Proxy) readPatchStart(body []byte) (start time.Time) {
	defer func() {
		if v := recover(); v != nil {
			p.logger.Warn("proxy: reading a PATCH panicked; it is forwarded, its start unread", "registry", p.name, "panic", v)
			start = time.Time{}
		}
	}()
	var in struct {
		Start json.RawMessage `json:"start"`
	}
	if json.Unmarshal(body, &in) != nil {
		return time.Time{}
	}
	return parseStart(in.Start, p.now())
}

// journeyRef is what the proxy takes from a submission body.
type journeyRef struct {
	id    string
	start time.Time // zero when absent or not RFC 3339
	ok    bool
}

// parseJourney reads operator_journey_id and start.datetime. A body that is
// not JSON, or whose id is not one the registry accepts, gives nothing to
// track: the registry will refuse it with a 400.
func parseJourney(body []byte, now time.Time) journeyRef {
	var in struct {
		ID    json.RawMessage `json:"operator_journey_id"`
		Start json.RawMessage `json:"start"`
	}
	if json.Unmarshal(body, &in) != nil {
		return journeyRef{}
	}
	var id string
	if json.Unmarshal(in.ID, &id) != nil || !registry.ValidOperatorJourneyID(id) {
		return journeyRef{}
	}
	return journeyRef{id: id, start: parseStart(in.Start, now), ok: true}
}

// parseStart reads a start's datetime, zero when absent or not RFC 3339.
// A start the push endpoint would refuse is a mistake the registry will
// judge; the journey is tracked without it. now is the registry's time.
func parseStart(raw json.RawMessage, now time.Time) time.Time {
	var start struct {
		Datetime string `json:"datetime"`
	}
	if json.Unmarshal(raw, &start) != nil {
		return time.Time{}
	}
	if t, err := time.Parse(time.RFC3339, start.Datetime); err == nil && starts.Check(t, now) == nil {
		return t.UTC()
	}
	return time.Time{}
}

// isSubmitPath tells whether path is /v3/journeys or /v3.N/journeys, where
// the registry takes submissions. v2's POST /journeys had another body and
// is no longer served: it is forwarded, not observed.
func isSubmitPath(path string) bool {
	version, rest, ok := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	return ok && (rest == "journeys" || rest == "journeys/") && isV3(version)
}

// changeCall tells whether a request is a cancel (POST
// /v3.x/journeys/{id}/cancel) or a PATCH (PATCH /v3.x/journeys/{id}), and
// of which journey: the path's id segment unescaped, as the servers'
// router reads it (an id may hold any character, "/" as %2F). v2 has
// neither call; an id the registry would refuse is not observed.
func changeCall(method, escapedPath string) (tracker.Operation, string) {
	segs := strings.Split(strings.TrimPrefix(escapedPath, "/"), "/")
	if n := len(segs); n > 3 && segs[n-1] == "" {
		segs = segs[:n-1] // the servers' router ignores a trailing slash
	}
	if len(segs) < 3 || !isV3(segs[0]) || segs[1] != "journeys" {
		return 0, ""
	}
	var op tracker.Operation
	switch {
	case method == http.MethodPost && len(segs) == 4 && segs[3] == "cancel":
		op = tracker.Cancel
	case method == http.MethodPatch && len(segs) == 3:
		op = tracker.Patch
	default:
		return 0, ""
	}
	id, err := url.PathUnescape(segs[2])
	if err != nil || !registry.ValidOperatorJourneyID(id) {
		return 0, ""
	}
	return op, id
}

// isV3 tells whether a path's version segment is v3 or v3.N, which the
// servers resolve to a 3.x version.
func isV3(version string) bool {
	minor, ok := strings.CutPrefix(version, "v3")
	if !ok {
		return false
	}
	if minor == "" {
		return true
	}
	minor, ok = strings.CutPrefix(minor, ".")
	if !ok || minor == "" {
		return false
	}
	for _, c := range minor {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// observeAnswer is ReverseProxy's ModifyResponse: it registers the journey
// of a submission with the registry's answer before the answer is relayed.
// It never fails, so the answer is always relayed.
func (p *Proxy) observeAnswer(resp *http.Response) error {
	ex := exchangeOf(resp.Request.Context())
	if ex != nil && ex.op != 0 {
		p.observeChange(resp, ex)
		return nil
	}
	if ex == nil || !ex.submission {
		return nil
	}
	ex.code = resp.StatusCode
	if !ex.journey.ok {
		return nil
	}
	defer func() {
		if v := recover(); v != nil {
			p.logger.Warn("proxy: tracking a submission panicked; the answer is relayed unchanged",
				"registry", p.name, "journey", ex.journey.id, "panic", v)
			p.metrics.TrackingFailed(p.name, TrackingError)
		}
	}()
	reg := tracker.Registration{ID: ex.journey.id, Source: tracker.SourceProxy, Start: ex.journey.start}
	switch resp.StatusCode {
	case http.StatusCreated:
		reg.Status = "pending"
	case http.StatusConflict:
		// Submitted before: the registry knows it with a status of its own,
		// which the first check will read. Its submission lag was that of
		// its first submission, which this one is not.
		reg.Resubmission = true
	case http.StatusUnprocessableEntity:
		// The registry stores a refused journey as terms_violation_error.
		reg.Status = "terms_violation_error"
		refusal, err := p.termsRefusal(resp, ex)
		if err != nil {
			p.logger.Warn("proxy: the reasons of a terms violation could not be read; the journey is tracked without them",
				"registry", p.name, "journey", ex.journey.id, "err", err)
		} else {
			reg.TermsReasons = refusal.TermsLabels
			p.logTripCounts(ex.journey.id, refusal.TermsDetails)
		}
	default:
		return nil
	}
	p.register(resp.Request.Context(), ex.journey.id, reg)
	return nil
}

// logTripCounts tells, at debug level, the counts newer registries give
// with too_many_trips_by_day (the trips the driver and the passenger each
// had that day, and the limit). They are the journey's alone and the
// registry's status never repeats them, so they go to the log, never to
// a metric label.
func (p *Proxy) logTripCounts(id string, details []registry.TermsDetail) {
	for _, d := range details {
		if d.Trips != nil {
			p.logger.Debug("proxy: journey refused for too many trips a day", "registry", p.name, "journey", id,
				"reason", d.Label, "driver_trips", d.Trips.Driver, "passenger_trips", d.Trips.Passenger, "limit", d.Trips.Limit)
		}
	}
}

// termsRefusal reads a 422 answer, then puts the answer back byte for byte
// for the relay.
func (p *Proxy) termsRefusal(resp *http.Response, ex *exchange) (*registry.Error, error) {
	began := time.Now()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	ex.upstream += time.Since(began)
	// Whatever was read goes first; the rest, or the read error, follows,
	// so the operator gets exactly what it would have without the proxy.
	resp.Body = restoredBody{Reader: io.MultiReader(bytes.NewReader(raw), resp.Body), Closer: resp.Body}
	switch {
	case err != nil:
		return nil, fmt.Errorf("reading the answer: %w", err)
	case len(raw) > maxAnswerBytes:
		return nil, fmt.Errorf("answer over %d bytes", maxAnswerBytes)
	}
	switch enc := strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		if raw, err = gunzip(raw); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("answer encoded as %.32q", enc)
	}
	_, err = registry.DecodeSubmission(resp.StatusCode, raw, resp.Header)
	var e *registry.Error
	if !errors.As(err, &e) || e.Kind != registry.KindTermsViolation {
		return nil, fmt.Errorf("unexpected answer: %w", err)
	}
	return e, nil
}

func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("gzip answer: %w", err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, maxAnswerBytes+1))
	if err != nil {
		return nil, fmt.Errorf("gzip answer: %w", err)
	}
	if len(out) > maxAnswerBytes {
		return nil, fmt.Errorf("answer over %d bytes once decompressed", maxAnswerBytes)
	}
	return out, nil
}

type restoredBody struct {
	io.Reader
	io.Closer
}

// register hands reg to the registrar and waits at most trackTimeout for
// it.
func (p *Proxy) register(ctx context.Context, id string, reg tracker.Registration) {
	added, ok := p.track(ctx, "submission", id, func(ctx context.Context) (int, error) {
		return p.registrar.Register(ctx, []tracker.Registration{reg})
	})
	if ok {
		added = min(max(added, 0), 1)
		p.metrics.Tracked(p.name, added, 1-added)
	}
}

// observeChange applies a cancel or a PATCH the registry accepted to its
// journey before the answer is relayed. Only the registry's success
// answer (200 for both, in every 3.x version) is taken: a refusal, an
// unknown journey or an error leaves the journey as it was. The answer is
// relayed unchanged whatever happens.
func (p *Proxy) observeChange(resp *http.Response, ex *exchange) {
	if resp.StatusCode != http.StatusOK {
		return
	}
	defer func() {
		if v := recover(); v != nil {
			p.logger.Warn("proxy: tracking a change panicked; the answer is relayed unchanged",
				"registry", p.name, "journey", ex.changeID, "panic", v)
			p.metrics.TrackingFailed(p.name, TrackingError)
		}
	}()
	call := CallCancel
	if ex.op == tracker.Patch {
		call = CallPatch
	}
	_, ok := p.track(resp.Request.Context(), call, ex.changeID, func(ctx context.Context) (int, error) {
		// Whether the journey was new is not counted: Changed counts
		// the change either way.
		_, err := p.registrar.Relayed(ctx, tracker.Change{ID: ex.changeID, Op: ex.op, Start: ex.patchStart})
		return 0, err
	})
	if ok {
		p.metrics.Changed(p.name, call)
	}
}

// track runs f, the registrar's work for one call ("submission",
// CallCancel or CallPatch, of journey id),
// and waits at most trackTimeout for it; ok when it succeeded in time. A
// registrar that outlives the timeout keeps running in the background,
// bounded by maxPendingRegistrations.
func (p *Proxy) track(ctx context.Context, call, id string, f func(context.Context) (int, error)) (added int, ok bool) {
	select {
	case p.pending <- struct{}{}:
	default:
		p.logger.Warn("proxy: too many registrations still running; the call is relayed untracked",
			"registry", p.name, "call", call, "journey", id, "running", maxPendingRegistrations)
		p.metrics.TrackingFailed(p.name, TrackingTimeout)
		return 0, false
	}
	// The registry has answered: the journey is worth tracking even if the
	// operator hangs up meanwhile.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.trackTimeout)
	defer cancel()
	type result struct {
		added int
		err   error
	}
	done := make(chan result, 1)
	go func() {
		defer func() { <-p.pending }()
		defer func() {
			if v := recover(); v != nil {
				done <- result{err: fmt.Errorf("registrar panicked: %v", v)}
			}
		}()
		added, err := f(ctx)
		done <- result{added, err}
	}()
	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		select {
		case res = <-done:
		default:
			res.err = ctx.Err()
		}
	}
	switch {
	case res.err != nil && errors.Is(res.err, context.DeadlineExceeded):
		p.logger.Warn("proxy: tracking timed out; the answer is relayed unchanged",
			"registry", p.name, "call", call, "journey", id, "timeout", p.trackTimeout)
		p.metrics.TrackingFailed(p.name, TrackingTimeout)
		return 0, false
	case res.err != nil:
		p.logger.Warn("proxy: tracking failed; the answer is relayed unchanged",
			"registry", p.name, "call", call, "journey", id, "err", res.err)
		p.metrics.TrackingFailed(p.name, TrackingError)
		return 0, false
	}
	return res.added, true
}

// forwardFailed is ReverseProxy's ErrorHandler: no answer came from the
// registry, either because the operator's body could not be read or
// because the registry could not be reached.
func (p *Proxy) forwardFailed(w http.ResponseWriter, r *http.Request, err error) {
	ex := exchangeOf(r.Context())
	if ex == nil {
		ex = &exchange{}
	}
	if ex.body != nil {
		if berr := ex.body.failure(); berr != nil {
			code, msg := p.clientFault(berr)
			p.refuse(w, ex, code, msg+": the forwarded request was aborted")
			return
		}
	}
	if r.Context().Err() != nil {
		// The operator hung up: nobody reads this answer.
		p.logger.Debug("proxy: the operator went away before the registry answered", "registry", p.name, "err", err)
		ex.code = 0
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	// A dial that timed out is a registry that cannot be reached (502);
	// any other timeout is ResponseTimeout's.
	var ne net.Error
	var op *net.OpError
	dial := errors.As(err, &op) && op.Op == "dial"
	if errors.As(err, &ne) && ne.Timeout() && !dial {
		p.logger.Warn("proxy: the registry did not answer in time", "registry", p.name, "timeout", p.respTimeout, "err", err)
		p.refuse(w, ex, http.StatusGatewayTimeout,
			fmt.Sprintf("Gateway Timeout: the registry did not answer the exporter's proxy within %s", p.respTimeout))
		return
	}
	p.logger.Warn("proxy: the registry did not answer", "registry", p.name, "err", err)
	p.refuse(w, ex, http.StatusBadGateway, "Bad Gateway: the registry did not answer the exporter's proxy")
}

// clientFault turns the failure to read an operator's body into an answer.
func (p *Proxy) clientFault(err error) (int, string) {
	var tooLarge *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over the proxy's limit of %d bytes", tooLarge.Limit)
	case errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return http.StatusRequestTimeout, fmt.Sprintf("request body not received within %s", p.readTimeout)
	default:
		return http.StatusBadRequest, "request body could not be read"
	}
}

// refuse answers in the registry's own error shape, so an operator's client
// that reads the registry's errors reads these too.
func (p *Proxy) refuse(w http.ResponseWriter, ex *exchange, code int, message string) {
	ex.code = code
	if code == http.StatusRequestTimeout || code == http.StatusRequestEntityTooLarge {
		// The rest of the body is still on the wire.
		w.Header().Set("Connection", "close")
	}
	WriteError(w, code, message)
}

// WriteError answers in the registry's error shape, {"code":…,"error":…},
// as the proxy's own refusals do: an operator's back end reads every
// answer of a proxy route alike, the exporter's routing ones included.
func WriteError(w http.ResponseWriter, code int, message string) {
	b, _ := json.Marshal(struct {
		Code  int    `json:"code"`
		Error string `json:"error"`
	}{code, message})
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// clientBody is the operator's request body, remembering why reading it
// failed so a forwarding error can be blamed on the right side.
type clientBody struct {
	rc io.ReadCloser

	mu  sync.Mutex // the transport reads the body on a goroutine of its own
	err error
}

func (b *clientBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF {
		b.mu.Lock()
		if b.err == nil {
			b.err = err
		}
		b.mu.Unlock()
	}
	return n, err
}

func (b *clientBody) Close() error { return b.rc.Close() }

func (b *clientBody) failure() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if buf, ok := b.p.Get().(*[]byte); ok {
		return *buf
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }

// timedTransport measures the registry's share of a request, so the
// latency histogram shows only the proxy's.
type timedTransport struct{ next http.RoundTripper }

func (t timedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	began := time.Now()
	resp, err := t.next.RoundTrip(r)
	if ex := exchangeOf(r.Context()); ex != nil {
		ex.upstream += time.Since(began)
	}
	if resp != nil && resp.Request == nil {
		// observeAnswer finds its exchange through it; a custom transport
		// may leave it out.
		resp.Request = r
	}
	return resp, err
}
