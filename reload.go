package main

import "github.com/prometheus/client_golang/prometheus"

// reloadMetrics are the blackbox_exporter's configuration reload gauges.
type reloadMetrics struct {
	successful, timestamp prometheus.Gauge
}

func newReloadMetrics(reg prometheus.Registerer) *reloadMetrics {
	m := &reloadMetrics{
		successful: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "covoiturage", Subsystem: "exporter", Name: "config_last_reload_successful",
			Help: "Whether the last configuration load or reload succeeded (1) or failed and the previous configuration is still running (0).",
		}),
		timestamp: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "covoiturage", Subsystem: "exporter", Name: "config_last_reload_success_timestamp_seconds",
			Help: "When the configuration was last loaded successfully, in Unix seconds.",
		}),
	}
	reg.MustRegister(m.successful, m.timestamp)
	return m
}

func (m *reloadMetrics) succeeded() {
	m.successful.Set(1)
	m.timestamp.SetToCurrentTime()
}

func (m *reloadMetrics) failed() { m.successful.Set(0) }

// secretMetrics tell, by registry, how many credential files group or
// others can read: the log's warning at each (re)load is easily missed, a
// series can be alerted on. Neither the path nor the content is a label.
type secretMetrics struct{ exposed *prometheus.GaugeVec }

func newSecretMetrics(reg prometheus.Registerer) *secretMetrics {
	m := &secretMetrics{exposed: prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "covoiturage", Subsystem: "exporter", Name: "secret_files_exposed",
		Help: "Credential files of the registry (token_file, secret_key_file) on which group or others have any permission, as found when the running configuration was loaded; the log names them. 0 is the safe value.",
	}, []string{"registry"})}
	reg.MustRegister(m.exposed)
	return m
}

// set replaces the counts with those of the configuration just applied:
// a registry it no longer has loses its series.
func (m *secretMetrics) set(byRegistry map[string]int) {
	m.exposed.Reset()
	for name, n := range byRegistry {
		m.exposed.WithLabelValues(name).Set(float64(n))
	}
}
