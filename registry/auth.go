package registry

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
)

// Secret holds a credential. It prints, marshals and logs as "<secret>" so
// that a config or an error that embeds it cannot leak it.
type Secret string

func (Secret) String() string                 { return "<secret>" }
func (Secret) GoString() string               { return "<secret>" }
func (Secret) MarshalText() ([]byte, error)   { return []byte("<secret>"), nil }
func (Secret) LogValue() slog.Value           { return slog.StringValue("<secret>") }
func (s Secret) reveal() string               { return string(s) }
func (Secret) Format(f fmt.State, _ rune)     { _, _ = f.Write([]byte("<secret>")) }
func (s Secret) empty() bool                  { return strings.TrimSpace(string(s)) == "" }
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// maxSecretBytes bounds a credential file; JWTs and tokens are far smaller.
const maxSecretBytes = 64 << 10

// ReadSecretFile reads a credential from a file, trimming the surrounding
// white space editors and `echo` leave. Errors name the file, never its
// content.
func ReadSecretFile(path string) (Secret, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("reading secret file: %w", err)
	}
	defer func() { _ = f.Close() }()
	// A credential is a line; a path to /dev/zero or a large file by
	// mistake must not take the process's memory.
	b, err := io.ReadAll(io.LimitReader(f, maxSecretBytes+1))
	if err != nil {
		return "", fmt.Errorf("reading secret file: %w", err)
	}
	if len(b) > maxSecretBytes {
		return "", fmt.Errorf("secret file %s is larger than %d bytes: not a credential", path, maxSecretBytes)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("secret file %s is empty", path)
	}
	if strings.ContainsAny(s, "\r\n") {
		return "", fmt.Errorf("secret file %s holds more than one line", path)
	}
	// A credential travels in an HTTP header (the token, the JWT a key
	// pair is traded for): one that cannot would fail every request as a
	// transport error, never as a refused credential.
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return "", fmt.Errorf("secret file %s holds a character that cannot be sent in an HTTP header (byte %d of the credential, %s): want printable ASCII without spaces", path, i+1, describeByte(c))
		}
	}
	return Secret(s), nil
}

// describeByte names a byte without repeating a secret's content.
func describeByte(c byte) string {
	switch {
	case c == 0:
		return "a NUL"
	case c == ' ':
		return "a space"
	case c < ' ' || c == 0x7f:
		return "a control character"
	}
	return "not ASCII"
}

// ExposedSecretFile tells why a credential file may be read by other
// users than its owner, "" when it may not.
func ExposedSecretFile(path string) string {
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm()&0o077 == 0 {
		return ""
	}
	return fmt.Sprintf("secret file %s has mode %#o: group or others have permissions on it (read, or write: a replaced token); chmod 600 it", path, st.Mode().Perm())
}

// Auth is how the client authenticates: a legacy static application token,
// or an access key with its secret key, traded for a short-lived JWT.
type Auth struct {
	Token     Secret
	AccessKey string
	SecretKey Secret
}

// StaticTokenFile reads a static token from a file.
func StaticTokenFile(path string) (Auth, error) {
	t, err := ReadSecretFile(path)
	if err != nil {
		return Auth{}, err
	}
	return Auth{Token: t}, nil
}

// KeyPairFile pairs an access key with a secret key read from a file.
func KeyPairFile(accessKey, secretKeyFile string) (Auth, error) {
	if strings.TrimSpace(accessKey) == "" {
		return Auth{}, errors.New("access key is empty")
	}
	for _, c := range []byte(strings.TrimSpace(accessKey)) {
		if c <= ' ' || c >= 0x7f {
			return Auth{}, fmt.Errorf("access key holds %s: want printable ASCII without spaces", describeByte(c))
		}
	}
	s, err := ReadSecretFile(secretKeyFile)
	if err != nil {
		return Auth{}, err
	}
	return Auth{AccessKey: strings.TrimSpace(accessKey), SecretKey: s}, nil
}

func (a Auth) validate() error {
	switch {
	case !a.Token.empty() && a.AccessKey != "":
		return errors.New("auth: set either a token or an access key pair, not both")
	case !a.Token.empty():
		return nil
	case a.AccessKey != "" && !a.SecretKey.empty():
		return nil
	case a.AccessKey != "":
		return errors.New("auth: access key without a secret key")
	}
	return nil // no credentials: only /health works, the registry answers 403 elsewhere
}

// defaultJWTLifetime is the registry's documented JWT validity, used when a
// token carries no readable exp claim.
const defaultJWTLifetime = 5 * time.Minute

// tokenSource hands out the bearer token. For a key pair it caches the JWT
// and renews it shortly before it expires: the token route allows 5 requests
// a minute, so it must never be asked per request.
//
// While the registry refuses the key pair, the refusal is remembered for
// retryRefused: every caller meanwhile gets it without a request, so a
// refused key costs one token request per interval, not one per waiting
// caller (the route's 5 a minute per IP are shared with the operator's
// own back end).
type tokenSource struct {
	auth         Auth
	renewBefore  time.Duration
	retryRefused time.Duration
	now          func() time.Time
	exchange     func(ctx context.Context) (string, error)

	mu           sync.Mutex
	current      string
	renewAt      time.Time
	refused      error
	refusedUntil time.Time
}

func (ts *tokenSource) renewable() bool { return ts.auth.AccessKey != "" }

// token returns a valid bearer token, or "" when there are no credentials.
func (ts *tokenSource) token(ctx context.Context) (string, error) {
	if !ts.renewable() {
		return ts.auth.Token.reveal(), nil
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.current != "" && ts.now().Before(ts.renewAt) {
		return ts.current, nil
	}
	if ts.refused != nil && ts.now().Before(ts.refusedUntil) {
		return "", ts.refused
	}
	tok, err := ts.exchange(ctx)
	if err != nil {
		if k := KindOf(err); k == KindUnauthorized || k == KindForbidden {
			ts.refused, ts.refusedUntil = err, ts.now().Add(ts.retryRefused)
		}
		return "", err
	}
	ts.refused = nil
	issued := ts.now()
	exp := jwtExpiry(tok)
	if exp.IsZero() || !exp.After(issued) {
		exp = issued.Add(defaultJWTLifetime)
	}
	// Renew a margin before expiry, but never so early that a short-lived
	// token is renewed on every call.
	margin := min(ts.renewBefore, exp.Sub(issued)/5)
	ts.current, ts.renewAt = tok, exp.Add(-margin)
	return tok, nil
}

// invalidate drops tok after the registry refused it, so that the next call
// renews; a token renewed meanwhile by another call is kept.
func (ts *tokenSource) invalidate(tok string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.current == tok {
		ts.current = ""
	}
}

// jwtExpiry reads the exp claim without verifying the signature: the client
// only needs to know when to renew, the registry does the verifying.
func jwtExpiry(tok string) time.Time {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return time.Time{}
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}
	}
	var claims struct {
		Exp json.Number `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return time.Time{}
	}
	secs, err := claims.Exp.Float64()
	if err != nil || secs <= 0 || secs > 1e11 {
		return time.Time{}
	}
	return time.Unix(int64(secs), 0)
}
