package simulator

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// SubmissionBody is a v3.3 submission of journey id starting at start, as
// an operator would send it, that the simulator accepts unless it is
// submitted more than 24 h after start. Each id has identities of its
// own, so the per-person terms checks never refuse it. For tests that
// submit through the exporter's proxy or to the simulator directly; any id
// is encoded as JSON, quotes and backslashes included.
func SubmissionBody(id string, start time.Time) []byte {
	key := func(role string) string {
		sum := sha256.Sum256([]byte(role + id))
		return hex.EncodeToString(sum[:])
	}
	type point struct {
		Datetime string  `json:"datetime"`
		Lat      float64 `json:"lat"`
		Lon      float64 `json:"lon"`
	}
	type identity struct {
		IdentityKey    string `json:"identity_key"`
		OperatorUserID string `json:"operator_user_id"`
		PhoneTrunc     string `json:"phone_trunc"`
	}
	type driver struct {
		Identity identity `json:"identity"`
		Revenue  int      `json:"revenue"`
	}
	type passenger struct {
		Identity     identity `json:"identity"`
		Contribution int      `json:"contribution"`
		Seats        int      `json:"seats"`
	}
	end := start.Add(40 * time.Minute)
	// Strings, numbers and fixed structs only: Marshal cannot fail.
	b, _ := json.Marshal(struct {
		OperatorJourneyID string    `json:"operator_journey_id"`
		OperatorTripID    string    `json:"operator_trip_id"`
		OperatorClass     string    `json:"operator_class"`
		Incentives        []any     `json:"incentives"`
		Start             point     `json:"start"`
		End               point     `json:"end"`
		Distance          int       `json:"distance"`
		Driver            driver    `json:"driver"`
		Passenger         passenger `json:"passenger"`
	}{
		OperatorJourneyID: id,
		OperatorTripID:    "trip" + id,
		OperatorClass:     "C",
		Incentives:        []any{},
		Start:             point{start.UTC().Format(time.RFC3339), 48.85, 2.35},
		End:               point{end.UTC().Format(time.RFC3339), 48.95, 2.45},
		Distance:          8000,
		Driver:            driver{identity{key("d"), "d" + id, "+336010203"}, 200},
		Passenger:         passenger{identity{key("p"), "p" + id, "+336010204"}, 200, 1},
	})
	return b
}

// PatchBody is a PATCH of a journey starting at start that the simulator
// accepts: the fields the servers' patch schema requires, the points and
// distance SubmissionBody sends.
func PatchBody(start time.Time) []byte {
	type point struct {
		Datetime string  `json:"datetime"`
		Lat      float64 `json:"lat"`
		Lon      float64 `json:"lon"`
	}
	end := start.Add(40 * time.Minute)
	b, _ := json.Marshal(struct {
		OperatorClass string `json:"operator_class"`
		Incentives    []any  `json:"incentives"`
		Start         point  `json:"start"`
		End           point  `json:"end"`
		Distance      int    `json:"distance"`
	}{"C", []any{}, point{start.UTC().Format(time.RFC3339), 48.85, 2.35}, point{end.UTC().Format(time.RFC3339), 48.95, 2.45}, 8000})
	return b
}
