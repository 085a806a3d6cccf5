package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Certificate is the part of GET /certificates/{uuid} a monitor
// needs: whether it is still valid, and its period. Identity and positions
// are personal data and are deliberately not kept.
type Certificate struct {
	UUID      string
	Type      string // "ok" or "expired"; kept as sent when new values appear
	TZ        string
	StartAt   time.Time
	EndAt     time.Time
	CreatedAt time.Time
	// DriverTrips and PassengerTrips are the totals' trip counts, when sent.
	DriverTrips    int
	PassengerTrips int
}

// DecodeCertificate reads a certificate body; only a body that is not an
// object, or that has no type, is an error.
func DecodeCertificate(body []byte) (Certificate, error) {
	var w struct {
		Type      *string         `json:"type"`
		UUID      json.RawMessage `json:"uuid"`
		TZ        json.RawMessage `json:"tz"`
		StartAt   json.RawMessage `json:"start_at"`
		EndAt     json.RawMessage `json:"end_at"`
		CreatedAt json.RawMessage `json:"created_at"`
		Driver    *wireTotals     `json:"driver"`
		Passenger *wireTotals     `json:"passenger"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		return Certificate{}, fmt.Errorf("certificate body: %w", err)
	}
	if w.Type == nil {
		return Certificate{}, errors.New("certificate body: no type field")
	}
	c := Certificate{
		UUID:      scalarString(w.UUID),
		Type:      *w.Type,
		TZ:        scalarString(w.TZ),
		StartAt:   parseTime(w.StartAt),
		EndAt:     parseTime(w.EndAt),
		CreatedAt: parseTime(w.CreatedAt),
	}
	if w.Driver != nil {
		c.DriverTrips = w.Driver.trips()
	}
	if w.Passenger != nil {
		c.PassengerTrips = w.Passenger.trips()
	}
	return c, nil
}

type wireTotals struct {
	Total struct {
		Trips json.RawMessage `json:"trips"`
	} `json:"total"`
}

func (t *wireTotals) trips() int {
	f, ok := number(t.Total.Trips)
	if !ok || f < 0 || f > 1e9 {
		return 0
	}
	return int(f)
}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// ValidCertificateUUID tells whether s is a UUID, the only shape the
// certificate route accepts.
func ValidCertificateUUID(s string) bool { return uuidPattern.MatchString(s) }
