package simulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// advancer is a clock that can be pushed forward, like clock.Accelerated.
type advancer interface {
	Advance(time.Duration)
}

// registerAdmin adds the /_simulator/ routes that drive the simulator from
// outside the process. They bypass faults, limits and authentication.
func (s *Simulator) registerAdmin(mux *http.ServeMux) {
	mux.HandleFunc("GET /_simulator/faults", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Faults())
	})
	mux.HandleFunc("PUT /_simulator/faults", func(w http.ResponseWriter, r *http.Request) {
		var f Faults
		if !decodeAdmin(w, r, &f) {
			return
		}
		s.SetFaults(f)
		s.logger.Info("faults changed", "faults", f)
		writeJSON(w, http.StatusOK, f)
	})
	mux.HandleFunc("POST /_simulator/expire-tokens", func(w http.ResponseWriter, _ *http.Request) {
		s.ExpireTokens()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /_simulator/clock", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"now": s.clock.Now().UTC().Format(time.RFC3339Nano)})
	})
	mux.HandleFunc("POST /_simulator/clock/advance", func(w http.ResponseWriter, r *http.Request) {
		d, err := time.ParseDuration(r.URL.Query().Get("d"))
		if err != nil || d < 0 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "d must be a non-negative Go duration such as 1h"})
			return
		}
		a, ok := s.clock.(advancer)
		if !ok {
			writeJSON(w, http.StatusConflict, map[string]string{"error": "the clock cannot be advanced"})
			return
		}
		a.Advance(d)
		s.Tick()
		writeJSON(w, http.StatusOK, map[string]string{"now": s.clock.Now().UTC().Format(time.RFC3339Nano)})
	})
	mux.HandleFunc("PUT /_simulator/journeys", func(w http.ResponseWriter, r *http.Request) {
		var j Journey
		if !decodeAdmin(w, r, &j) {
			return
		}
		if !validOperatorJourneyID(j.OperatorJourneyID) || j.Status == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "operator_journey_id and status are required"})
			return
		}
		s.Put(j)
		got, _ := s.Journey(j.OperatorJourneyID)
		writeJSON(w, http.StatusOK, got)
	})
	mux.HandleFunc("GET /_simulator/traffic", func(w http.ResponseWriter, _ *http.Request) {
		t, err := s.Traffic()
		if err != nil {
			writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, trafficSettingsOf(t))
	})
	mux.HandleFunc("PUT /_simulator/traffic", func(w http.ResponseWriter, r *http.Request) {
		var change trafficSettings
		b, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes))
		if err == nil {
			// Unknown keys are refused: a misspelt ratio would otherwise
			// leave the traffic as it was and answer 200.
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			err = dec.Decode(&change)
			if err == nil && dec.More() {
				err = errors.New("trailing data after the JSON object")
			}
		}
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "traffic: " + err.Error() + "; the keys are " + trafficKeys})
			return
		}
		t, err := s.UpdateTraffic(change.apply)
		switch {
		case errors.Is(err, ErrNoTraffic):
			writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
			return
		case err != nil:
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		got := trafficSettingsOf(t)
		logged, _ := json.Marshal(got)
		s.logger.Info("traffic changed", "traffic", string(logged))
		writeJSON(w, http.StatusOK, got)
	})
	mux.HandleFunc("POST /_simulator/certificates", func(w http.ResponseWriter, r *http.Request) {
		var c Certificate
		if !decodeAdmin(w, r, &c) {
			return
		}
		if c.UUID == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "uuid is required"})
			return
		}
		s.AddCertificate(c)
		writeJSON(w, http.StatusCreated, c)
	})
}

// trafficSettings is what of Traffic the admin routes show and change: a
// PUT changes the keys it gives and keeps the others.
type trafficSettings struct {
	PerHour               *float64 `json:"per_hour,omitempty"`
	LateRatio             *float64 `json:"late_ratio,omitempty"`
	DuplicateRatio        *float64 `json:"duplicate_ratio,omitempty"`
	FraudRatio            *float64 `json:"fraud_ratio,omitempty"`
	AnomalyRatio          *float64 `json:"anomaly_ratio,omitempty"`
	ShortRatio            *float64 `json:"short_ratio,omitempty"`
	TooManyRatio          *float64 `json:"too_many_ratio,omitempty"`
	TooCloseRatio         *float64 `json:"too_close_ratio,omitempty"`
	AcquisitionErrorRatio *float64 `json:"acquisition_error_ratio,omitempty"`
	CancelRatio           *float64 `json:"cancel_ratio,omitempty"`
	// Delay is a Go duration ("18h"), as the faults' durations are.
	Delay       *adminDuration `json:"delay,omitempty"`
	DelayGrowth *float64       `json:"delay_growth,omitempty"`
}

const trafficKeys = "per_hour, late_ratio, duplicate_ratio, fraud_ratio, anomaly_ratio, short_ratio, too_many_ratio, too_close_ratio, acquisition_error_ratio, cancel_ratio, delay, delay_growth"

// adminDuration is a duration written as a Go duration string.
type adminDuration time.Duration

func (d adminDuration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

func (d *adminDuration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New(`want a duration string such as "18h" or "90m"`)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration such as \"18h\" or \"90m\"", s)
	}
	*d = adminDuration(v)
	return nil
}

func (c trafficSettings) apply(t *Traffic) {
	for _, f := range []struct{ from, to *float64 }{
		{c.PerHour, &t.PerHour}, {c.LateRatio, &t.LateRatio}, {c.DuplicateRatio, &t.DuplicateRatio},
		{c.FraudRatio, &t.FraudRatio}, {c.AnomalyRatio, &t.AnomalyRatio}, {c.ShortRatio, &t.ShortRatio},
		{c.TooManyRatio, &t.TooManyRatio}, {c.TooCloseRatio, &t.TooCloseRatio},
		{c.AcquisitionErrorRatio, &t.AcquisitionErrorRatio}, {c.CancelRatio, &t.CancelRatio},
	} {
		if f.from != nil {
			*f.to = *f.from
		}
	}
	if c.Delay != nil {
		t.Delay = time.Duration(*c.Delay)
	}
	if c.DelayGrowth != nil {
		t.DelayGrowth = *c.DelayGrowth
	}
}

func trafficSettingsOf(t Traffic) trafficSettings {
	return trafficSettings{
		PerHour: &t.PerHour, LateRatio: &t.LateRatio, DuplicateRatio: &t.DuplicateRatio,
		FraudRatio: &t.FraudRatio, AnomalyRatio: &t.AnomalyRatio, ShortRatio: &t.ShortRatio,
		TooManyRatio: &t.TooManyRatio, TooCloseRatio: &t.TooCloseRatio,
		AcquisitionErrorRatio: &t.AcquisitionErrorRatio, CancelRatio: &t.CancelRatio,
		Delay: (*adminDuration)(&t.Delay), DelayGrowth: &t.DelayGrowth,
	}
}

func decodeAdmin(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes))
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encoding failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
