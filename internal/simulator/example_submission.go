package simulator

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// SubmissionBody is a v3.3 submission of journey id starting at start, as
// an operator would send it, that the simulator accepts unless it is
// submitted more than 24 h after start. Each id has identities of its
// own, so the per-person terms checks never refuse it. For tests that
// submit through the exporter's proxy or to the simulator directly.
func SubmissionBody(id string, start time.Time) []byte {
	key := func(role string) string {
		sum := sha256.Sum256([]byte(role + id))
		return hex.EncodeToString(sum[:])
	}
	end := start.Add(40 * time.Minute)
	return []byte(`{"operator_journey_id":"` + id + `","operator_trip_id":"trip` + id + `","operator_class":"C","incentives":[],` +
		`"start":{"datetime":"` + start.UTC().Format(time.RFC3339) + `","lat":48.85,"lon":2.35},` +
		`"end":{"datetime":"` + end.UTC().Format(time.RFC3339) + `","lat":48.95,"lon":2.45},` +
		`"distance":8000,` +
		`"driver":{"identity":{"identity_key":"` + key("d") + `","operator_user_id":"d` + id + `","phone_trunc":"+336010203"},"revenue":200},` +
		`"passenger":{"identity":{"identity_key":"` + key("p") + `","operator_user_id":"p` + id + `","phone_trunc":"+336010204"},"contribution":200,"seats":1}}`)
}
