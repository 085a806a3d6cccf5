package simulator

import "time"

// Certificate is an attestation served by GET /certificates/{uuid}.
type Certificate struct {
	UUID         string          `json:"uuid"`
	OperatorID   int             `json:"operator_id"`
	Type         string          `json:"type"` // "ok" or "expired"
	TZ           string          `json:"tz,omitempty"`
	StartAt      time.Time       `json:"start_at"`
	EndAt        time.Time       `json:"end_at"`
	CreatedAt    time.Time       `json:"created_at"`
	IdentityUUID string          `json:"identity_uuid,omitempty"`
	OperatorUUID string          `json:"operator_uuid,omitempty"`
	OperatorName string          `json:"operator_name,omitempty"`
	Positions    []Position      `json:"positions,omitempty"`
	Driver       CertificateSide `json:"driver"`
	Passenger    CertificateSide `json:"passenger"`
}

// Position is a point of a certificate.
type Position struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// CertificateSide sums the trips of one role.
type CertificateSide struct {
	Total CertificateTotal  `json:"total"`
	Trips []CertificateTrip `json:"trips"`
}

// CertificateTotal is the total object of a certificate side.
type CertificateTotal struct {
	Trips        int     `json:"trips"`
	WeekTrips    int     `json:"week_trips"`
	WeekendTrips int     `json:"weekend_trips"`
	Distance     float64 `json:"distance"`
	Amount       float64 `json:"amount"`
}

// CertificateTrip is one line of a certificate side.
type CertificateTrip struct {
	Type     string    `json:"type"`
	Datetime time.Time `json:"datetime"`
	Trips    int       `json:"trips"`
	Distance float64   `json:"distance"`
	Amount   float64   `json:"amount"`
}

// certificateBody renders a certificate the way the registry does: the seed
// shows nested identity and operator objects and a fixed tz.
func certificateBody(c Certificate) any {
	tz := c.TZ
	if tz == "" {
		tz = "Europe/Paris"
	}
	typ := c.Type
	if typ != "expired" {
		typ = "ok"
	}
	positions := c.Positions
	if positions == nil {
		positions = []Position{}
	}
	side := func(s CertificateSide) CertificateSide {
		if s.Trips == nil {
			s.Trips = []CertificateTrip{}
		}
		return s
	}
	return struct {
		Type      string          `json:"type"`
		UUID      string          `json:"uuid"`
		TZ        string          `json:"tz"`
		StartAt   string          `json:"start_at"`
		EndAt     string          `json:"end_at"`
		CreatedAt string          `json:"created_at"`
		Identity  map[string]any  `json:"identity"`
		Operator  map[string]any  `json:"operator"`
		Positions []Position      `json:"positions"`
		Driver    CertificateSide `json:"driver"`
		Passenger CertificateSide `json:"passenger"`
	}{
		Type:      typ,
		UUID:      c.UUID,
		TZ:        tz,
		StartAt:   formatTime(c.StartAt),
		EndAt:     formatTime(c.EndAt),
		CreatedAt: formatTime(c.CreatedAt),
		Identity:  map[string]any{"uuid": c.IdentityUUID},
		Operator:  map[string]any{"_id": c.OperatorID, "uuid": c.OperatorUUID, "name": c.OperatorName},
		Positions: positions,
		Driver:    side(c.Driver),
		Passenger: side(c.Passenger),
	}
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }
