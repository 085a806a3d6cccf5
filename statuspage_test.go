package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
)

// screenshotEnv names the file the status page test writes its screenshot
// to (docs/status-page.png, shown in the README), when set.
const screenshotEnv = "COVOITURAGE_SCREENSHOT"

// browser starts a fresh headless Chromium (Debian's chromium, installed
// by scripts/setup.sh) with a throwaway profile, nothing fetched from the
// network but the pages it is sent to.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is not installed: run scripts/setup.sh (%v)", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1000, 800),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	// The first call starts the browser, for the life of its context:
	// no timeout on it, one on what follows.
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("starting chromium: %v", err)
	}
	limited, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	return limited
}

// The status page, in a real browser, on an exporter running --demo
// under a route prefix: it shows the registry with its counts as the
// metrics give them, every link it holds stays under the prefix and
// answers 2xx, the look-up box finds a journey without a line of
// JavaScript, and it fits a phone's width.
func TestStatusPageInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a browser and the demo for about 20 s")
	}
	t.Parallel()
	p := startExporter(t, buildExporter(t), "--demo", "--web.route-prefix=/covoiturage")
	// Reached directly under its prefix, its derived external URL ends
	// with it: every request of the test, and every link, carries it.
	host := strings.TrimPrefix(p.base, "http://")
	p.base += "/covoiturage"
	// Wait until the demo has decided journeys: counts worth showing.
	m, _ := p.waitFor(t, 60*time.Second, func(m metrics) []string {
		if v, _ := m.value("covoiturage_journeys", "registry", "demo", "status", "ok"); v < 20 {
			return []string{"20 journeys ok in the demo"}
		}
		return nil
	})
	ctx := browser(t)

	err := chromedp.Do(ctx, chromedp.Navigate(p.url("/")), chromedp.WaitVisible(chromedp.CSS("#registry-demo")))
	if err != nil {
		t.Fatalf("loading the status page: %v", err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		t.Fatal(err)
	}
	links, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("a[href]")).map(a => a.href)`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Registry demo", "Demo mode", "API version", "3.3", "Scheduler", "polling", "Sampling ratio", "Budget", "Last success",
		"Status", "Fraud label", "Anomaly label", "Terms violation", "Source", "push (POST /covoiturage/api/v1/journeys/demo)", "Look a journey up"} {
		if !strings.Contains(text, want) {
			t.Errorf("the page does not say %q:\n%s", want, text)
		}
	}
	if v := regexp.MustCompile(`Version (\S+)`).FindStringSubmatch(text); v == nil || v[1] == "" || v[1] == "." {
		t.Errorf("no version on the page:\n%s", text)
	}
	// Each count is a link to its list, and the list has that many
	// journeys, give or take what the demo changed meanwhile.
	counts := 0
	for _, link := range links {
		u, err := url.Parse(link)
		if err != nil || u.Host != host || !strings.HasPrefix(u.Path, "/covoiturage/") {
			t.Errorf("link %q leaves the exporter or its route prefix", link)
			continue
		}
		code, body, err := get(link)
		if err != nil || code/100 != 2 {
			t.Errorf("link %s: %d %v", link, code, err)
		}
		if u.Path == "/covoiturage/api/v1/journeys/demo" && u.Query().Get("status") == "ok" && u.Query().Get("format") == "" {
			counts++
			var page struct {
				Journeys []tracker.Journey `json:"journeys"`
			}
			if err := json.Unmarshal([]byte(body), &page); err != nil || len(page.Journeys) == 0 {
				t.Errorf("the list of ok journeys: %v, %d journeys", err, len(page.Journeys))
			}
			for _, j := range page.Journeys {
				if j.Status != "ok" {
					t.Errorf("%s is %s in the list of ok journeys", j.ID, j.Status)
				}
			}
		}
	}
	if counts != 1 || len(links) < 30 {
		t.Errorf("%d links, %d to the ok journeys: the counts are not links", len(links), counts)
	}
	okShown := regexp.MustCompile(`ok (\d+)`).FindStringSubmatch(text)
	gauge, _ := m.value("covoiturage_journeys", "registry", "demo", "status", "ok")
	if n, err := strconv.Atoi(okShown[1]); err != nil || float64(n) < gauge {
		t.Errorf("the page shows %v ok journeys, the gauge had %v before", okShown, gauge)
	}

	// The look-up box: a form, no script; the id of a listed journey.
	_, body, _ := get(p.url("/api/v1/journeys/demo?limit=1&status=ok"))
	var one struct{ Journeys []tracker.Journey }
	if err := json.Unmarshal([]byte(body), &one); err != nil || len(one.Journeys) != 1 {
		t.Fatalf("a journey to look up: %v %s", err, body)
	}
	id := one.Journeys[0].ID
	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`input[name="id"]`), id),
		chromedp.Submit(chromedp.CSS(`input[name="id"]`)),
		chromedp.WaitNotPresent(chromedp.CSS("#registry-demo")),
	)
	found := ""
	if err == nil {
		found, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	}
	if err != nil || !strings.Contains(found, `"id":"`+id+`"`) || !strings.Contains(found, `"transitions"`) {
		t.Errorf("looking %s up: %v\n%s", id, err, found)
	}

	// A phone: nothing wider than its screen.
	err = chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(p.url("/")),
		chromedp.WaitVisible(chromedp.CSS("#registry-demo")),
	)
	overflow := false
	if err == nil {
		overflow, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth`))
	}
	if err != nil || overflow {
		t.Errorf("on a phone's width: %v, wider than the screen: %v", err, overflow)
	}

	// No script, nothing secret: no absolute URL but the exporter's own
	// external URL, which it shows (not the registry's address), no token.
	_, html, _ := get(p.url("/"))
	if !strings.Contains(html, "Reached at <a href=\""+p.base+"/\">"+p.base+"</a>") {
		t.Errorf("the page does not say it is reached at %s", p.base)
	}
	html = strings.ReplaceAll(html, p.base, "")
	if strings.Contains(html, "<script") || strings.Contains(html, "http://") || strings.Contains(html, "https://") || strings.Contains(strings.ToLower(html), "token") {
		t.Errorf("the page holds a script, an address or a token:\n%s", html)
	}

	if path := os.Getenv(screenshotEnv); path != "" {
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(1000, 800), chromedp.Navigate(p.url("/")),
			chromedp.WaitVisible(chromedp.CSS("#registry-demo"))); err != nil {
			t.Fatal(err)
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Clean(path), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// The status page, the list and the one-journey answer sit behind the
// exporter's basic auth, like the metrics.
func TestJourneyPagesBehindBasicAuth(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo")
	}
	t.Parallel()
	webConfig := filepath.Join(t.TempDir(), "web.yml")
	// bcrypt (cost 4) of "push-test-password" (the push tests' own), for the
	// user "oncall".
	writeFile(t, webConfig, "basic_auth_users:\n  oncall: $2a$04$EitqZkGl5vP7vf.ThwbZaeOCCEvx2ynLvfLIXQHlGINaJjsrLxFfK\n")
	p := startExporter(t, buildExporter(t), "--demo", "--web.config.file="+webConfig)
	for _, path := range []string{"/", "/api/v1/journeys/demo", "/api/v1/journeys/demo?format=csv", "/api/v1/journeys/demo/gen10000001", "/journey?registry=demo&id=x"} {
		deadline := time.Now().Add(30 * time.Second)
		for {
			req, _ := http.NewRequest(http.MethodGet, p.url(path), nil)
			resp, err := client.Do(req)
			if err == nil {
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("%s without credentials: %d", path, resp.StatusCode)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %v", path, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		req, _ := http.NewRequest(http.MethodGet, p.url(path), nil)
		req.SetBasicAuth("oncall", "push-test-password")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized {
			t.Errorf("%s with credentials: %d", path, resp.StatusCode)
		}
	}
}
