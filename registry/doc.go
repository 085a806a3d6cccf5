// Package registry is a client for the French carpooling proof registry
// (Registre de preuve de covoiturage, api.covoiturage.beta.gouv.fr). It
// follows how the registry's servers behave rather than the published
// specs where the two differ (the repository's docs/registry.md says
// where), keeps one request budget per registry, and reports every HTTP
// attempt to an Observer so a caller can meter it without this package
// knowing about Prometheus.
//
// The exporter uses it for everything it asks a registry, and it stands on
// its own: it imports nothing else of the project.
//
// # Getting started
//
// A [Client] is one registry account. Credentials are read from files and
// never logged: [StaticTokenFile] for a legacy application token, or
// [KeyPairFile] for an access key and its secret key.
//
//	auth, err := registry.KeyPairFile("my-access-key", "/etc/covoiturage/secret_key")
//	if err != nil { … }
//	c, err := registry.New(registry.Config{
//		BaseURL: "https://api.covoiturage.beta.gouv.fr",
//		Version: "3.3",
//		Auth:    auth,
//		Rate:    5, Burst: 10, // this client's share of the 2000 a minute per IP
//		Observer: func(o registry.Observation) { /* meter every HTTP attempt */ },
//	})
//	if err != nil { … }
//	st, err := c.JourneyStatus(ctx, "operatorjourney42")
//	switch {
//	case errors.Is(err, registry.ErrNotFound):    // the registry does not know the journey
//	case errors.Is(err, registry.ErrRateLimited): // wait registry.RetryAfterOf(err)
//	case errors.Is(err, registry.ErrUnauthorized): // revoked token or key
//	case err == nil:
//		fmt.Println(st.Status, st.FraudLabels, st.TermsViolations)
//	}
//
// # Calls
//
//   - [Client.JourneyStatus]: a v3.x journey by its operator_journey_id.
//   - [Client.JourneyStatusV2]: a v2 journey by the registry's journey_id,
//     unwrapped from its JSON-RPC envelope.
//   - [Client.ListJourneys] lists one page of ids; [Client.ListAllJourneys]
//     walks every page, de-duplicating ids as offset pages shift.
//     [SafeListWindow] is the widest window of start times to ask at a
//     given moment: it ends at today 00:00 Paris and starts 90 days
//     before, each kept clear by a margin for a registry clock a little
//     off the caller's.
//   - [Client.Certificate] (GET /certificates/{uuid}), [Client.Health]
//     (GET /health).
//   - [Client.SubmitJourney] submits a journey; [DecodeSubmission] reads a
//     submission's answer (201, 409, 422 with the terms reasons) for a
//     caller that relays submissions itself, as the exporter's proxy does.
//
// # Decoding
//
// Fraud labels are read as strings or {label} objects, the anomaly metas
// under either name, journey_id as a number or a string, dates in RFC 3339
// or with a +0100 offset. Statuses, labels and reasons the package does not
// know are kept as strings: bounding them is the caller's job, with
// [Statuses], [StatusesV2], [FraudLabels], [AnomalyLabels] and
// [TermsReasons] listing the known ones.
//
// # Errors
//
// Every failure is an [*Error] with a [Kind] (auth_expired, unauthorized,
// forbidden, not_found, unsupported_version, rate_limited, unavailable,
// bad_request, conflict, terms_violation, server_error, decode_error,
// transport_error), the HTTP status, the registry's own code and message,
// and RetryAfter. It matches the sentinel of its kind with [errors.Is]
// ([ErrNotFound], [ErrRateLimited]…); [KindOf] and [RetryAfterOf] read it
// through wrapping. It never holds a credential.
//
// # Authentication
//
// A static token is sent as it is. An access key and its secret key are
// traded at POST /auth/access_token for the registry's 5-minute JWT, which
// is cached and renewed [Config.RenewBefore] (30 s by default, at most a
// fifth of its life) before it expires, paced by [Config.TokenRate] to stay
// within that route's 5 requests a minute per IP. A refused token is
// renewed once, never in a loop.
//
// # Rate limiting and retries
//
// One budget ([golang.org/x/time/rate], [Config.Rate] and [Config.Burst]) is
// shared by every call to a registry. The X-RateLimit-Remaining and
// X-RateLimit-Reset headers spread the last requests of the registry's
// window over what is left of it; after a 429 nothing is sent to that
// registry until its Retry-After has passed ([Client.BlockedFor] says how
// long). Only retryable failures ([Kind.Retryable]) are retried, with
// exponential backoff and jitter; every attempt and every call has a
// deadline ([Config.RequestTimeout], [Config.CallTimeout]); every body is
// read through a size limit ([Config.MaxBodyBytes]).
//
// # Observation
//
// [Config.Observer] receives each attempt as an [Observation]: endpoint (one
// of [Endpoints]), HTTP code, duration, attempt number, error and the
// rate-limit headers.
package registry
