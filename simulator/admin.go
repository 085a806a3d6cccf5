package simulator

import (
	"encoding/json"
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
		if !operatorJourneyIDPattern.MatchString(j.OperatorJourneyID) || j.Status == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "operator_journey_id and status are required"})
			return
		}
		s.Put(j)
		got, _ := s.Journey(j.OperatorJourneyID)
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
