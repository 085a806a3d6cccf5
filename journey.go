package main

import (
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/exporter"
)

// journeyHandler answers GET /api/v1/journeys/{registry}/{id} with what
// the exporter knows of one journey, for an on-call wondering why it is
// still pending. It reads the tracker only.
func journeyHandler(w http.ResponseWriter, r *http.Request, ex *exporter.Exporter, logger *slog.Logger) {
	h := ex.Registry(r.PathValue("registry"))
	if h == nil {
		http.Error(w, "no such registry", http.StatusNotFound)
		return
	}
	j, ok := h.Tracker().Lookup(r.PathValue("id"))
	if !ok {
		http.Error(w, "journey not tracked", http.StatusNotFound)
		return
	}
	// Encoded whole before anything is sent: a journey that cannot be
	// encoded is an error, not an empty 200.
	b, err := json.Marshal(j)
	if err != nil {
		logger.Error("journey API: the journey cannot be encoded", "registry", r.PathValue("registry"), "err", err)
		http.Error(w, "the journey cannot be encoded (see the exporter's log)", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(b, '\n'))
}
