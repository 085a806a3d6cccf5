package examples

import (
	"bytes"
	"cmp"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/config"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/exporter"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/testkit"
)

// tool finds one of names on PATH: the tests need the real programs, and
// their absence is a broken setup, not a reason to skip.
func tool(t *testing.T, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	t.Fatalf("none of %v on PATH: `make setup` installs Debian's prometheus and prometheus-alertmanager packages", names)
	return ""
}

// run returns what the command printed on its standard output; amtool
// warns on its standard error about settings of the machine it runs on.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", filepath.Base(name), strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

func readYAML(t *testing.T, file string, v any) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

func TestAlertmanagerConfigIsValid(t *testing.T) {
	t.Parallel()
	out := run(t, tool(t, "amtool"), "check-config", "alertmanager.yml")
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("amtool check-config: %s", out)
	}
}

func TestAlertmanagerRoutesBySeverity(t *testing.T) {
	t.Parallel()
	amtool := tool(t, "amtool")
	for _, c := range []struct {
		labels []string
		want   string
	}{
		{[]string{"alertname=CovoiturageAuthenticationFailing", "severity=critical", "registry=production"}, "page"},
		{[]string{"alertname=CovoiturageRateLimited", "severity=warning", "registry=production"}, "ticket"},
		// An alert without a known severity still reaches someone.
		{[]string{"alertname=Unexpected", "registry=production"}, "ticket"},
		{[]string{"alertname=Unexpected", "severity=info"}, "ticket"},
	} {
		args := append([]string{"config", "routes", "test", "--config.file=alertmanager.yml"}, c.labels...)
		if got := strings.TrimSpace(run(t, amtool, args...)); got != c.want {
			t.Errorf("%v goes to %q, want %q", c.labels, got, c.want)
		}
	}
}

// TestAlertmanagerInhibitsWarningsOfACriticalRegistry runs the real
// Alertmanager on the example configuration and checks its inhibition: a
// critical alert mutes the warnings of its registry, not of another one.
func TestAlertmanagerInhibitsWarningsOfACriticalRegistry(t *testing.T) {
	t.Parallel()
	bin := tool(t, "prometheus-alertmanager", "alertmanager")
	cfg, err := filepath.Abs("alertmanager.yml")
	if err != nil {
		t.Fatal(err)
	}
	addr := testkit.FreeAddress(t)
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.path="+t.TempDir(),
		"--web.listen-address="+addr, "--cluster.listen-address=", "--log.level=warn")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("alertmanager's output:\n%s", logs.String())
		}
	})
	base := "http://" + addr
	eventually(t, "alertmanager ready", func() bool {
		resp, err := http.Get(base + "/-/ready")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	now := time.Now().UTC()
	alert := func(name, severity, registry string) map[string]any {
		return map[string]any{
			"labels":   map[string]string{"alertname": name, "severity": severity, "registry": registry, "job": "covoiturage"},
			"startsAt": now.Format(time.RFC3339), "endsAt": now.Add(time.Hour).Format(time.RFC3339),
		}
	}
	body, _ := json.Marshal([]any{
		alert("CovoiturageAuthenticationFailing", "critical", "production"),
		alert("CovoiturageRateLimited", "warning", "production"),
		alert("CovoiturageRateLimited", "warning", "demo-account"),
	})
	resp, err := http.Post(base+"/api/v2/alerts", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /api/v2/alerts: %s", resp.Status)
	}

	type state struct {
		Labels map[string]string `json:"labels"`
		Status struct {
			State       string   `json:"state"`
			InhibitedBy []string `json:"inhibitedBy"`
		} `json:"status"`
	}
	var alerts []state
	eventually(t, "the production warning inhibited", func() bool {
		resp, err := http.Get(base + "/api/v2/alerts")
		if err != nil {
			return false
		}
		defer func() { _ = resp.Body.Close() }()
		alerts = nil
		if json.NewDecoder(resp.Body).Decode(&alerts) != nil || len(alerts) != 3 {
			return false
		}
		for _, a := range alerts {
			if a.Labels["severity"] == "warning" && a.Labels["registry"] == "production" {
				return a.Status.State == "suppressed" && len(a.Status.InhibitedBy) > 0
			}
		}
		return false
	})
	for _, a := range alerts {
		muted := len(a.Status.InhibitedBy) > 0
		want := a.Labels["severity"] == "warning" && a.Labels["registry"] == "production"
		if muted != want {
			t.Errorf("%s %s on %s: inhibited %v, want %v (status %+v)", a.Labels["alertname"], a.Labels["severity"], a.Labels["registry"], muted, want, a.Status)
		}
	}
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	testkit.WaitUntil(t, 30*time.Second, 50*time.Millisecond, what, ok)
}

const rulesFromExamples = "../alerts/covoiturage.rules.yml"

func TestPrometheusConfigIsValid(t *testing.T) {
	t.Parallel()
	promtool := tool(t, "promtool")
	var cfg struct {
		RuleFiles []string `yaml:"rule_files"`
	}
	readYAML(t, "prometheus.yml", &cfg)
	if !slices.Equal(cfg.RuleFiles, []string{rulesFromExamples}) {
		t.Fatalf("rule_files %v, want [%s]: the shipped rules, relative to prometheus.yml", cfg.RuleFiles, rulesFromExamples)
	}
	// promtool resolves rule_files against the configuration's directory:
	// in place, the check loads the repository's real rules.
	dir := "."
	if _, err := os.Stat(rulesFromExamples); err != nil {
		// The rules are written elsewhere in the tree; until they are
		// there, check the configuration beside a stand-in rules file.
		t.Logf("%s: %v: checking against a stand-in rules file", rulesFromExamples, err)
		dir = filepath.Join(t.TempDir(), "examples")
		data, err := os.ReadFile("prometheus.yml")
		if err != nil {
			t.Fatal(err)
		}
		for file, content := range map[string]string{
			filepath.Join(dir, "prometheus.yml"):                      string(data),
			filepath.Join(dir, filepath.FromSlash(rulesFromExamples)): "groups:\n  - name: stand-in\n    rules:\n      - record: stand_in\n        expr: up\n",
		} {
			if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	out := run(t, promtool, "check", "config", filepath.Join(dir, "prometheus.yml"))
	if !strings.Contains(out, "SUCCESS: 1 rule files found") {
		t.Fatalf("promtool check config found no rule file:\n%s", out)
	}
}

func TestExporterConfigLoads(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("covoiturage.yml")
	if err != nil {
		t.Fatal(err)
	}
	// The directory the exporter sees in the container: the configuration,
	// the journeys file and the token secret beside it.
	dir := t.TempDir()
	journeys, err := filepath.Abs("journeys.txt")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(journeys, filepath.Join(dir, "journeys.txt")); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(data, dir)
	if err != nil {
		t.Fatalf("config.Parse: %v", err)
	}
	// As --config.check does: the configuration becomes runtime settings,
	// credentials read.
	if err := exporter.Check(cfg); err == nil || !strings.Contains(err.Error(), "token_file") {
		t.Fatalf("exporter.Check without the token secret: %v, want a token_file error", err)
	}
	secret := filepath.Join(dir, "secrets", "covoiturage_token")
	if err := os.MkdirAll(filepath.Dir(secret), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secret, []byte("test-token-not-a-real-one\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Registries) == 0 {
		t.Fatal("config.Parse read no registry")
	}
	if err := exporter.Check(cfg); err != nil {
		t.Fatalf("exporter.Check: %v", err)
	}
}

// compose is the part of compose.yml the checks read.
type compose struct {
	Services map[string]service `yaml:"services"`
	Secrets  map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
	Volumes map[string]any `yaml:"volumes"`
}

type service struct {
	Build struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
	Image       string            `yaml:"image"`
	Command     []string          `yaml:"command"`
	Volumes     []string          `yaml:"volumes"`
	Secrets     []yaml.Node       `yaml:"secrets"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
}

// mount is one path a container sees: a bind mount of host (relative to
// examples/), a named volume, or a secret.
type mount struct {
	host, volume, secret string
	readOnly             bool
}

func (s service) mounts(t *testing.T, name string) map[string]mount {
	t.Helper()
	m := map[string]mount{}
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 || len(parts) > 3 || !path.IsAbs(parts[1]) {
			t.Errorf("service %s: volume %q: want source:/container/path[:ro]", name, v)
			continue
		}
		mt := mount{readOnly: len(parts) == 3 && parts[2] == "ro"}
		if strings.HasPrefix(parts[0], ".") || strings.HasPrefix(parts[0], "/") {
			mt.host = parts[0]
		} else {
			mt.volume = parts[0]
		}
		m[parts[1]] = mt
	}
	for _, n := range s.Secrets {
		var source, target string
		switch n.Kind {
		case yaml.ScalarNode:
			source = n.Value
		case yaml.MappingNode:
			var long struct{ Source, Target string }
			if err := n.Decode(&long); err != nil {
				t.Fatalf("service %s: secret: %v", name, err)
			}
			source, target = long.Source, long.Target
		}
		switch {
		case target == "":
			target = "/run/secrets/" + source
		case !path.IsAbs(target):
			target = "/run/secrets/" + target
		}
		m[target] = mount{secret: source, readOnly: true}
	}
	return m
}

// resolve says what a container path of the service is: the mount that
// holds it, and for a bind mount the host path, relative to examples/.
func resolve(mounts map[string]mount, containerPath string) (mount, string, bool) {
	best := ""
	for target := range mounts {
		if (containerPath == target || strings.HasPrefix(containerPath, target+"/")) && len(target) > len(best) {
			best = target
		}
	}
	if best == "" {
		return mount{}, "", false
	}
	mt := mounts[best]
	if mt.host == "" {
		return mt, "", true
	}
	return mt, filepath.Join(mt.host, strings.TrimPrefix(containerPath, best)), true
}

func flag(command []string, name string) string {
	for _, a := range command {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

func sameFile(t *testing.T, a, b string) bool {
	t.Helper()
	ia, errA := os.Stat(a)
	ib, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(ia, ib)
}

func TestComposeFile(t *testing.T) {
	t.Parallel()
	var c compose
	readYAML(t, "compose.yml", &c)
	for _, name := range []string{"covoiturage-exporter", "prometheus", "alertmanager", "grafana"} {
		if _, ok := c.Services[name]; !ok {
			t.Fatalf("compose.yml: no %s service", name)
		}
	}
	mounts := map[string]map[string]mount{}
	for name, s := range c.Services {
		mounts[name] = s.mounts(t, name)
		for target, mt := range mounts[name] {
			switch {
			case mt.host != "":
				if _, err := os.Stat(mt.host); err != nil {
					t.Errorf("service %s: mounts %s at %s: %v", name, mt.host, target, err)
				}
			case mt.volume != "":
				if _, ok := c.Volumes[mt.volume]; !ok {
					t.Errorf("service %s: volume %q is not declared under volumes", name, mt.volume)
				}
			case mt.secret != "":
				if _, ok := c.Secrets[mt.secret]; !ok {
					t.Errorf("service %s: secret %q is not declared under secrets", name, mt.secret)
				}
			}
			if mt.host != "" && !mt.readOnly {
				t.Errorf("service %s: %s is mounted writable: configurations are read-only", name, mt.host)
			}
		}
	}
	for name, s := range c.Secrets {
		// Secrets are the user's to create, in the directory git ignores.
		if filepath.Dir(filepath.Clean(s.File)) != "secrets" {
			t.Errorf("secret %s: file %q, want one under ./secrets/", name, s.File)
		}
	}
	ignore, err := os.ReadFile(filepath.Join("secrets", ".gitignore"))
	if err != nil || !slices.Contains(strings.Fields(string(ignore)), "*") {
		t.Errorf("secrets/.gitignore must ignore every secret (*): %q, %v", ignore, err)
	}

	t.Run("exporter", func(t *testing.T) {
		checkExporter(t, c.Services["covoiturage-exporter"], mounts["covoiturage-exporter"])
	})
	t.Run("prometheus", func(t *testing.T) { checkPrometheus(t, c, mounts) })
	t.Run("alertmanager", func(t *testing.T) { checkAlertmanager(t, c.Services["alertmanager"], mounts["alertmanager"]) })
	t.Run("grafana", func(t *testing.T) { checkGrafana(t, c, mounts["grafana"]) })
}

func checkExporter(t *testing.T, s service, mounts map[string]mount) {
	if s.Build.Context == "" {
		t.Fatal("the exporter is not built from the repository")
	}
	dockerfile := filepath.Join(s.Build.Context, cmp.Or(s.Build.Dockerfile, "Dockerfile"))
	if !sameFile(t, dockerfile, filepath.Join("..", "Dockerfile")) {
		t.Errorf("build: %s is not the repository's Dockerfile", dockerfile)
	}
	cfgPath := flag(s.Command, "config.file")
	if _, host, ok := resolve(mounts, cfgPath); !ok || !sameFile(t, host, "covoiturage.yml") {
		t.Fatalf("--config.file=%s is not examples/covoiturage.yml in the container", cfgPath)
	}
	// The journey links must open on the host, through the published port.
	if u := flag(s.Command, "web.external-url"); u != "http://localhost:9896" {
		t.Errorf("--web.external-url=%q: want http://localhost:9896, where the host reaches the published port", u)
	}
	storage := flag(s.Command, "storage.path")
	if mt, _, ok := resolve(mounts, storage); storage != "/var/lib/covoiturage_exporter" || !ok || mt.volume == "" {
		t.Errorf("--storage.path=%q: want /var/lib/covoiturage_exporter on a named volume", storage)
	}
	// Every file the configuration names, relative to its directory in the
	// container, must be mounted there: the token as a secret.
	var cfg struct {
		Registries []struct {
			TokenFile     string `yaml:"token_file"`
			SecretKeyFile string `yaml:"secret_key_file"`
			Journeys      struct {
				Files []string `yaml:"files"`
			} `yaml:"journeys"`
		} `yaml:"registries"`
	}
	readYAML(t, "covoiturage.yml", &cfg)
	for _, r := range cfg.Registries {
		for _, secret := range []string{r.TokenFile, r.SecretKeyFile} {
			if secret == "" {
				continue
			}
			if mt, _, ok := resolve(mounts, inContainer(cfgPath, secret)); !ok || mt.secret == "" {
				t.Errorf("credential %s is not a secret mounted beside the configuration", secret)
			}
		}
		for _, f := range r.Journeys.Files {
			if _, host, ok := resolve(mounts, inContainer(cfgPath, f)); !ok || host == "" {
				t.Errorf("journeys file %s is not mounted beside the configuration", f)
			} else if _, err := os.Stat(host); err != nil {
				t.Errorf("journeys file %s: %v", f, err)
			}
		}
	}
	if !slices.ContainsFunc(s.Ports, func(p string) bool { return strings.HasSuffix(p, ":9896") }) {
		t.Errorf("ports %v: want the exporter's 9896 published", s.Ports)
	}
}

// inContainer resolves a path a configuration file names the way the
// exporter and Prometheus do: relative to the file's directory.
func inContainer(configFile, name string) string {
	if path.IsAbs(name) {
		return name
	}
	return path.Join(path.Dir(configFile), name)
}

func checkPrometheus(t *testing.T, c compose, mounts map[string]map[string]mount) {
	s := c.Services["prometheus"]
	cfgPath := flag(s.Command, "config.file")
	if _, host, ok := resolve(mounts["prometheus"], cfgPath); !ok || !sameFile(t, host, "prometheus.yml") {
		t.Fatalf("--config.file=%s is not examples/prometheus.yml in the container", cfgPath)
	}
	var cfg struct {
		RuleFiles []string `yaml:"rule_files"`
		Alerting  struct {
			Alertmanagers []struct {
				StaticConfigs []struct {
					Targets []string `yaml:"targets"`
				} `yaml:"static_configs"`
			} `yaml:"alertmanagers"`
		} `yaml:"alerting"`
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, "prometheus.yml", &cfg)
	// Rule files resolve against the configuration's directory, in the
	// container as in the repository.
	for _, rf := range cfg.RuleFiles {
		mt, host, ok := resolve(mounts["prometheus"], inContainer(cfgPath, rf))
		if !ok || host == "" || !mt.readOnly {
			t.Errorf("rule file %s is not mounted read-only in the container", rf)
			continue
		}
		if filepath.Clean(host) != filepath.Clean(filepath.FromSlash(rf)) {
			t.Errorf("rule file %s is %s in the container, not the repository's", rf, host)
		}
		if info, err := os.Stat(filepath.Dir(host)); err != nil || !info.IsDir() {
			t.Errorf("rule file %s: its directory %s: %v", rf, filepath.Dir(host), err)
		}
	}
	var scrapes []string
	for _, sc := range cfg.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			if sc.JobName == "covoiturage" {
				scrapes = append(scrapes, st.Targets...)
			}
		}
	}
	if !slices.Equal(scrapes, []string{"covoiturage-exporter:9896"}) {
		t.Errorf("job covoiturage scrapes %v, want the compose service covoiturage-exporter:9896", scrapes)
	}
	var ams []string
	for _, am := range cfg.Alerting.Alertmanagers {
		for _, st := range am.StaticConfigs {
			ams = append(ams, st.Targets...)
		}
	}
	if !slices.Equal(ams, []string{"alertmanager:9093"}) {
		t.Errorf("alerting goes to %v, want the compose service alertmanager:9093", ams)
	}
}

func checkAlertmanager(t *testing.T, s service, mounts map[string]mount) {
	cfgPath := flag(s.Command, "config.file")
	if _, host, ok := resolve(mounts, cfgPath); !ok || !sameFile(t, host, "alertmanager.yml") {
		t.Fatalf("--config.file=%s is not examples/alertmanager.yml in the container", cfgPath)
	}
	var doc yaml.Node
	readYAML(t, "alertmanager.yml", &doc)
	files := secretFiles(&doc)
	if len(files) == 0 {
		t.Fatal("alertmanager.yml reads no secret from a file")
	}
	for _, f := range files {
		if mt, _, ok := resolve(mounts, f); !ok || mt.secret == "" {
			t.Errorf("alertmanager.yml reads %s, which compose does not mount as a secret", f)
		}
	}
}

// secretFiles lists the values of every *_file key.
func secretFiles(n *yaml.Node) []string {
	var out []string
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if strings.HasSuffix(n.Content[i].Value, "_file") && n.Content[i+1].Kind == yaml.ScalarNode {
				out = append(out, n.Content[i+1].Value)
			}
		}
	}
	for _, c := range n.Content {
		out = append(out, secretFiles(c)...)
	}
	return out
}

func checkGrafana(t *testing.T, c compose, mounts map[string]mount) {
	s := c.Services["grafana"]
	_, provisioning, ok := resolve(mounts, "/etc/grafana/provisioning")
	if !ok || filepath.Clean(provisioning) != filepath.Join("grafana", "provisioning") {
		t.Fatalf("/etc/grafana/provisioning is %q, want examples/grafana/provisioning", provisioning)
	}
	var dashboards struct {
		Providers []struct {
			Type    string `yaml:"type"`
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, filepath.Join(provisioning, "dashboards", "covoiturage.yml"), &dashboards)
	if len(dashboards.Providers) == 0 {
		t.Fatal("no dashboard provider")
	}
	for _, p := range dashboards.Providers {
		mt, host, ok := resolve(mounts, p.Options.Path)
		if p.Type != "file" || !ok || !mt.readOnly || filepath.Clean(host) != filepath.Join("..", "dashboards") {
			t.Errorf("provider reads %s, which is not the repository's dashboards/ mounted read-only (%q)", p.Options.Path, host)
			continue
		}
		if found, _ := filepath.Glob(filepath.Join(host, "*.json")); len(found) == 0 {
			t.Errorf("provider reads %s: no dashboard there", host)
		}
	}
	var datasources struct {
		Datasources []struct {
			Type string `yaml:"type"`
			URL  string `yaml:"url"`
		} `yaml:"datasources"`
	}
	readYAML(t, filepath.Join(provisioning, "datasources", "covoiturage.yml"), &datasources)
	for _, d := range datasources.Datasources {
		host, _, _ := strings.Cut(strings.TrimPrefix(d.URL, "http://"), ":")
		if _, ok := c.Services[host]; !ok {
			t.Errorf("data source %s at %s: no compose service %q", d.Type, d.URL, host)
		}
	}
	if !slices.ContainsFunc(datasources.Datasources, func(d struct {
		Type string `yaml:"type"`
		URL  string `yaml:"url"`
	}) bool {
		return d.Type == "prometheus" && d.URL == "http://prometheus:9090"
	}) {
		t.Errorf("no Prometheus data source at http://prometheus:9090: %+v", datasources.Datasources)
	}
	if f := s.Environment["GF_SECURITY_ADMIN_PASSWORD__FILE"]; f == "" {
		t.Error("Grafana's admin password is not read from a secret file")
	} else if mt, _, ok := resolve(mounts, f); !ok || mt.secret == "" {
		t.Errorf("GF_SECURITY_ADMIN_PASSWORD__FILE=%s is not a mounted secret", f)
	}
}

func TestReadmeNamesEveryFile(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "docker compose -f examples/compose.yml up") {
		t.Error("README.md does not say how to start the example")
	}
	err = filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".go") || p == "README.md" || strings.HasPrefix(p, "secrets"+string(filepath.Separator)) {
			return err
		}
		if !strings.Contains(string(readme), "`"+filepath.ToSlash(p)+"`") {
			t.Errorf("README.md does not describe %s", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
