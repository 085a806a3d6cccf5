package simulator

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// principal is the operator a request authenticated as.
type principal struct {
	operatorID  int
	permissions []string // nil grants everything
}

func (p principal) can(perm string) bool {
	return p.permissions == nil || slices.Contains(p.permissions, perm)
}

type authOutcome int

const (
	authOK authOutcome = iota
	authMissing
	authUnknown
	authExpired
	authBadSignature
)

type claims struct {
	Operator    int      `json:"operator"`
	Permissions []string `json:"permissions,omitempty"`
	// Generation lets ExpireTokens revoke every JWT issued before it.
	Generation int64 `json:"gen"`
	jwt.RegisteredClaims
}

type authenticator struct {
	tokens []Token
	keys   []KeyPair
	ttl    time.Duration
	secret []byte
	now    func() time.Time

	mu         sync.Mutex
	generation int64
}

func newAuthenticator(tokens []Token, keys []KeyPair, ttl time.Duration, secret []byte) *authenticator {
	return &authenticator{tokens: tokens, keys: keys, ttl: ttl, secret: secret, now: time.Now}
}

func (a *authenticator) expireAll() {
	a.mu.Lock()
	a.generation++
	a.mu.Unlock()
}

func (a *authenticator) currentGeneration() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.generation
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// issue trades a key pair for a signed JWT.
func (a *authenticator) issue(accessKey, secretKey string) (string, bool) {
	for _, k := range a.keys {
		if equal(k.AccessKey, accessKey) && equal(k.SecretKey, secretKey) {
			now := a.now()
			c := claims{
				Operator:    k.OperatorID,
				Permissions: k.Permissions,
				Generation:  a.currentGeneration(),
				RegisteredClaims: jwt.RegisteredClaims{
					IssuedAt:  jwt.NewNumericDate(now),
					ExpiresAt: jwt.NewNumericDate(now.Add(a.ttl)),
					Subject:   k.AccessKey,
				},
			}
			signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(a.secret)
			return signed, err == nil
		}
	}
	return "", false
}

// authenticate reads the Authorization header.
func (a *authenticator) authenticate(r *http.Request) (principal, authOutcome) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return principal{}, authMissing
	}
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return principal{}, authUnknown
	}
	token = strings.TrimSpace(token)
	for _, t := range a.tokens {
		if equal(t.Value, token) {
			return principal{operatorID: t.OperatorID, permissions: t.Permissions}, authOK
		}
	}
	if strings.Count(token, ".") != 2 {
		return principal{}, authUnknown
	}
	var c claims
	// Expiry is checked below with sub-second precision and against
	// ExpireTokens, so the library's own time checks are off.
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return a.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithoutClaimsValidation())
	switch {
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		// The registry's middleware lets the verification error escape.
		return principal{}, authBadSignature
	case err != nil:
		return principal{}, authUnknown
	case c.ExpiresAt == nil || !a.now().Before(c.ExpiresAt.Time) || c.Generation < a.currentGeneration():
		return principal{}, authExpired
	}
	return principal{operatorID: c.Operator, permissions: c.Permissions}, authOK
}
