package main

import (
	"encoding/json"
	"net/http"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/exporter"
)

// journeyHandler answers GET /api/v1/journeys/{registry}/{id} with what
// the exporter knows of one journey, for an on-call wondering why it is
// still pending. It reads the tracker only.
func journeyHandler(w http.ResponseWriter, r *http.Request, ex *exporter.Exporter) {
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
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(j)
}
