package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// Config is one registry account. Zero values take the defaults below.
type Config struct {
	// BaseURL without the version, e.g. https://api.covoiturage.beta.gouv.fr.
	BaseURL string
	// Version of the v3 API: "3.2", "3.3", "3.4" (or "3" for the newest).
	Version string
	Auth    Auth

	// Rate and Burst are this client's request budget, shared by every
	// call. Keep it to a share of the registry's 2000 a minute per IP: the
	// operator's own status checks spend the same counter.
	Rate  rate.Limit
	Burst int
	// TokenRate and TokenBurst pace POST /auth/access_token, limited by the
	// registry to 5 a minute per IP.
	TokenRate  rate.Limit
	TokenBurst int
	// HealthRate and HealthBurst pace GET /health, which has a counter of
	// its own on the servers (100 per 5 minutes per IP) and never spends
	// or waits for the budget above.
	HealthRate  rate.Limit
	HealthBurst int
	// RenewBefore is how long before its expiry a JWT is renewed.
	RenewBefore time.Duration
	// AuthRetryInterval: once the registry refused the key pair, the token
	// route is asked again only this much later; calls meanwhile fail at
	// once with the refusal.
	AuthRetryInterval time.Duration

	// RequestTimeout bounds one HTTP attempt; CallTimeout bounds a whole
	// call, waits and retries included, when the caller's context has no
	// deadline of its own.
	RequestTimeout time.Duration
	CallTimeout    time.Duration
	// MaxAttempts is how many times a retryable failure is tried in all.
	MaxAttempts int
	// BackoffBase and BackoffMax shape the exponential backoff (with
	// jitter) between attempts.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// MaxBodyBytes bounds what is read of any answer.
	MaxBodyBytes int64

	HTTPClient *http.Client
	UserAgent  string
	// Observer, when set, is told of every HTTP attempt. It must be fast
	// and safe for concurrent use.
	Observer func(Observation)
	// Clock is the time the client keeps the registry's limits by: the
	// budget, a 429's Retry-After, X-RateLimit-Reset and the backoff
	// between attempts. Nil is the wall clock, as it must be against a
	// real registry. Timeouts, and a JWT's expiry (a time the registry
	// wrote into it), stay on the wall clock. Tests give a simulated
	// clock, shared with the simulated registry's limits, to live through
	// a long Retry-After without waiting for it.
	Clock Clock
}

// Clock tells the time and waits on it. A clock with a Speed() float64
// method (its seconds per wall second, 0 when it only moves by hand) lets
// the client tell whether a wait fits in the caller's deadline; without
// one it is taken to run at the wall clock's pace; at speed 0, a wait is
// left to the caller's context to end.
type Clock interface {
	Now() time.Time
	// Sleep returns once d has passed on the clock, or with ctx's error
	// once ctx is done.
	Sleep(ctx context.Context, d time.Duration) error
}

// wallClock is the wall clock.
type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

func (wallClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// outlasts tells whether waiting d on clk ends after ctx's deadline. It
// cannot tell for a clock that only moves by hand, and says no.
func outlasts(ctx context.Context, clk Clock, d time.Duration) bool {
	dl, ok := ctx.Deadline()
	if !ok {
		return false
	}
	if s, ok := clk.(interface{ Speed() float64 }); ok {
		speed := s.Speed()
		if speed <= 0 {
			return false
		}
		d = time.Duration(float64(d) / speed)
	}
	return time.Now().Add(d).After(dl)
}

// Defaults, in one place.
const (
	DefaultVersion        = "3.3"
	DefaultRate           = rate.Limit(5) // 300 a minute, 15% of the per-IP limit
	DefaultBurst          = 10
	DefaultTokenBurst     = 2
	DefaultRenewBefore    = 30 * time.Second
	DefaultAuthRetry      = 5 * time.Minute
	DefaultRequestTimeout = 15 * time.Second
	DefaultCallTimeout    = time.Minute
	DefaultMaxAttempts    = 4
	DefaultBackoffBase    = 500 * time.Millisecond
	DefaultBackoffMax     = 30 * time.Second
	DefaultMaxBodyBytes   = 4 << 20
)

// DefaultTokenRate keeps any sliding minute to at most 5 token requests
// with DefaultTokenBurst: 2 at once, then one every 20 s.
var DefaultTokenRate = rate.Every(20 * time.Second)

// DefaultHealthRate and DefaultHealthBurst keep /health under its 100
// requests per 5 minutes: 3 at once, then one every 3 s.
var (
	DefaultHealthRate  = rate.Every(3 * time.Second)
	DefaultHealthBurst = 3
)

func (c *Config) applyDefaults() {
	if c.Version == "" {
		c.Version = DefaultVersion
	}
	if c.Rate == 0 {
		c.Rate = DefaultRate
	}
	if c.Burst == 0 {
		c.Burst = DefaultBurst
	}
	if c.TokenRate == 0 {
		c.TokenRate = DefaultTokenRate
	}
	if c.TokenBurst == 0 {
		c.TokenBurst = DefaultTokenBurst
	}
	if c.HealthRate == 0 {
		c.HealthRate = DefaultHealthRate
	}
	if c.HealthBurst == 0 {
		c.HealthBurst = DefaultHealthBurst
	}
	if c.RenewBefore == 0 {
		c.RenewBefore = DefaultRenewBefore
	}
	if c.AuthRetryInterval == 0 {
		c.AuthRetryInterval = DefaultAuthRetry
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = DefaultCallTimeout
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.BackoffBase == 0 {
		c.BackoffBase = DefaultBackoffBase
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = DefaultBackoffMax
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{}
	}
	if c.Clock == nil {
		c.Clock = wallClock{}
	}
	if c.UserAgent == "" {
		c.UserAgent = "covoiturage_exporter"
	}
}

var versionPattern = regexp.MustCompile(`^3(\.[0-9]{1,3})?$`)

// ValidVersion tells whether v names a v3 API version the client can
// speak: "3" (the newest) or "3.x", with or without a leading "v".
func ValidVersion(v string) bool { return versionPattern.MatchString(strings.TrimPrefix(v, "v")) }

// ParseBaseURL checks a registry base URL: absolute http(s), with no
// credentials, query or fragment. Its errors never repeat a URL that holds
// credentials.
func ParseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	switch {
	case err != nil:
		// url.Parse's error repeats the URL, which may hold a password.
		return nil, errors.New("not a valid URL")
	case u.User != nil:
		return nil, errors.New("credentials in the URL are not supported: use the token or key files")
	case (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return nil, fmt.Errorf("%q: want an absolute http(s) URL", u.String())
	case u.RawQuery != "" || u.Fragment != "":
		return nil, errors.New("want no query or fragment")
	}
	return u, nil
}

// Client talks to one registry. It is safe for concurrent use; all its
// calls share one budget.
type Client struct {
	cfg     Config
	base    *url.URL
	version string
	budget  *budget
	tokens  *tokenSource
}

// New checks cfg and builds a client. Errors name the field at fault.
func New(cfg Config) (*Client, error) {
	cfg.applyDefaults()
	u, err := ParseBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("registry base URL: %w", err)
	}
	if !ValidVersion(cfg.Version) {
		return nil, fmt.Errorf("registry API version %q: want 3, 3.2, 3.3, 3.4…", cfg.Version)
	}
	version := strings.TrimPrefix(cfg.Version, "v")
	if err := cfg.Auth.validate(); err != nil {
		return nil, err
	}
	switch {
	case cfg.Rate < 0 || cfg.Burst < 1:
		return nil, fmt.Errorf("registry budget: rate %v and burst %d must be positive", cfg.Rate, cfg.Burst)
	case cfg.MaxAttempts < 1:
		return nil, fmt.Errorf("registry max attempts %d: want at least 1", cfg.MaxAttempts)
	case cfg.MaxBodyBytes < 1024:
		return nil, fmt.Errorf("registry max body bytes %d: want at least 1024", cfg.MaxBodyBytes)
	}
	c := &Client{cfg: cfg, base: u, version: version}
	c.budget = newBudget(cfg.Rate, cfg.Burst, cfg.TokenRate, cfg.TokenBurst, cfg.HealthRate, cfg.HealthBurst, cfg.Clock)
	c.tokens = &tokenSource{auth: cfg.Auth, renewBefore: cfg.RenewBefore, retryRefused: cfg.AuthRetryInterval, now: time.Now, exchange: c.exchangeKeys}
	return c, nil
}

// Version is the API version the client speaks for v3 calls.
func (c *Client) Version() string { return c.version }

// BlockedFor tells how long the registry is still closed to this client by
// a 429's Retry-After; a scheduler uses it to not even try.
func (c *Client) BlockedFor() time.Duration { return c.budget.blocked() }

// Observation is one HTTP attempt as the client saw it.
type Observation struct {
	Endpoint   string // one of Endpoints
	Method     string
	StatusCode int // 0 when no answer came back
	Duration   time.Duration
	// Admitted is when, on the client's Clock, the budget let the attempt
	// go: every limit, a 429's Retry-After included, was checked then.
	Admitted  time.Time
	Attempt   int
	Err       error // nil on success; KindOf(Err) classifies it
	RateLimit RateLimit
}

// call is one logical request; do sends it, with budget, auth and retries.
type call struct {
	endpoint string
	group    string
	method   string
	path     string
	query    url.Values
	body     []byte
	auth     bool
	retries  bool
	// decode reads a 2xx body; its error is a decode error, which is
	// retried, as a truncated body usually is a transient fault.
	decode func(body []byte) error
}

func (c *Client) do(ctx context.Context, cl call) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.CallTimeout)
		defer cancel()
	}
	renewed := false
	for attempt := 1; ; attempt++ {
		if err := c.budget.wait(ctx, cl.endpoint, cl.group); err != nil {
			return c.contextError(cl.endpoint, err)
		}
		admitted := c.cfg.Clock.Now()
		token := ""
		if cl.auth {
			var err error
			if token, err = c.tokens.token(ctx); err != nil {
				return c.contextError(cl.endpoint, err)
			}
		}
		err := c.send(ctx, cl, token, attempt, admitted)
		if err == nil {
			return nil
		}
		var e *Error
		if !errors.As(err, &e) {
			return err
		}
		// A refused JWT is renewed once, never in a loop: a second refusal
		// means the key pair itself is wrong or revoked.
		if cl.auth && c.tokens.renewable() && !renewed &&
			(e.Kind == KindAuthExpired || e.Kind == KindUnauthorized) {
			c.tokens.invalidate(token)
			renewed = true
			attempt--
			continue
		}
		if !cl.retries || !e.Kind.Retryable() || attempt >= c.cfg.MaxAttempts {
			return e
		}
		wait := c.backoff(attempt)
		switch {
		case e.Kind == KindRateLimited:
			// The budget already holds every request back until
			// Retry-After; only jitter is added on top.
			wait = c.jitter(c.cfg.BackoffBase)
		case e.RetryAfter > wait:
			wait = e.RetryAfter
		}
		if outlasts(ctx, c.cfg.Clock, wait+c.budget.blocked()) {
			return e
		}
		if err := c.cfg.Clock.Sleep(ctx, wait); err != nil {
			return e
		}
	}
}

// contextError wraps a cancelled or expired context as a transport error
// for the endpoint, so callers see one error type.
func (c *Client) contextError(endpoint string, err error) error {
	if e, ok := errors.AsType[*Error](err); ok {
		return e
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return &Error{Kind: KindTransport, Endpoint: endpoint, Err: err}
	}
	return err
}

// backoff is exponential with full jitter in its upper half, so that
// clients that failed together do not retry together.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.cfg.BackoffBase << min(attempt-1, 20)
	if d <= 0 || d > c.cfg.BackoffMax {
		d = c.cfg.BackoffMax
	}
	return d/2 + c.jitter(d/2)
}

func (c *Client) jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d)
}

// send makes one HTTP attempt and reports it to the observer.
func (c *Client) send(ctx context.Context, cl call, token string, attempt int, admitted time.Time) (err error) {
	actx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	u := *c.base
	// cl.path is already escaped segment by segment; keep that escaping.
	escaped := c.base.EscapedPath() + cl.path
	p, perr := url.PathUnescape(escaped)
	if perr != nil {
		return &Error{Kind: KindBadRequest, Endpoint: cl.endpoint, Err: perr}
	}
	u.Path, u.RawPath = p, escaped
	if len(cl.query) > 0 {
		u.RawQuery = cl.query.Encode()
	}
	var body io.Reader
	if cl.body != nil {
		body = bytes.NewReader(cl.body)
	}
	req, err := http.NewRequestWithContext(actx, cl.method, u.String(), body)
	if err != nil {
		return &Error{Kind: KindBadRequest, Endpoint: cl.endpoint, Err: err}
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	if cl.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}

	obs := Observation{Endpoint: cl.endpoint, Method: cl.method, Attempt: attempt, Admitted: admitted}
	start := time.Now()
	defer func() {
		obs.Duration = time.Since(start)
		obs.Err = err
		if c.cfg.Observer != nil {
			c.cfg.Observer(obs)
		}
	}()

	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		// *url.Error names the URL, which holds no secret; the token only
		// ever travels in a header.
		return &Error{Kind: KindTransport, Endpoint: cl.endpoint, Err: err}
	}
	defer func() { _ = resp.Body.Close() }()
	obs.StatusCode = resp.StatusCode
	obs.RateLimit = parseRateLimit(resp.Header)
	c.budget.observe(cl.group, obs.RateLimit)

	data, rerr := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxBodyBytes+1))
	if int64(len(data)) > c.cfg.MaxBodyBytes {
		return &Error{Kind: KindDecode, Endpoint: cl.endpoint, HTTPStatus: resp.StatusCode,
			Message: fmt.Sprintf("answer larger than %d bytes", c.cfg.MaxBodyBytes)}
	}

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := classify(cl.endpoint, resp.StatusCode, data, resp.Header, c.cfg.Clock.Now())
		if e.Kind == KindRateLimited {
			ra := e.RetryAfter
			if ra <= 0 {
				// A 429 without Retry-After still closes the door for a
				// moment rather than inviting an immediate retry.
				ra = c.cfg.BackoffBase
				e.RetryAfter = ra
			}
			c.budget.block(cl.group, c.cfg.Clock.Now().Add(ra))
		}
		e.Message = redact(e.Message, token)
		return e
	}
	if rerr != nil {
		return &Error{Kind: KindDecode, Endpoint: cl.endpoint, HTTPStatus: resp.StatusCode,
			Message: "answer cut short", Err: rerr}
	}
	if cl.decode != nil {
		if derr := cl.decode(data); derr != nil {
			if de, ok := errors.AsType[*Error](derr); ok {
				return de
			}
			return &Error{Kind: KindDecode, Endpoint: cl.endpoint, HTTPStatus: resp.StatusCode, Err: derr}
		}
	}
	return nil
}

// redact removes a token a registry might echo back in a message.
func redact(msg, token string) string {
	if token == "" || msg == "" {
		return msg
	}
	return strings.ReplaceAll(msg, token, "<secret>")
}
