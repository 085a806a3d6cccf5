package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Soak figures; the test runs on loopback only, bounded in count and time.
const (
	soakIdle    = 20_000
	soakSlow    = 1_000
	soakPushers = 4
	// The soak lasts until every idle connection was opened, within
	// these bounds.
	soakMinDuration = 10 * time.Second
	soakMaxDuration = 25 * time.Second
	soakScrapeGap   = 50 * time.Millisecond
	soakFDHeadroom  = 1_000
)

// raiseFileLimit makes room in this process for n more open files, up to
// the hard limit (raised too when the process may). It returns how many
// it could get.
func raiseFileLimit(t *testing.T, n uint64) uint64 {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	want := n + soakFDHeadroom
	if lim.Cur >= want {
		return n
	}
	next := lim
	next.Cur = want
	if next.Max < want {
		next.Max = want
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &next); err != nil {
		next = syscall.Rlimit{Cur: lim.Max, Max: lim.Max}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &next); err != nil {
			t.Fatal(err)
		}
	}
	if next.Cur < want {
		return next.Cur - soakFDHeadroom
	}
	return n
}

// rss reads a process's resident set size, in bytes.
func rss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// scrapeTimes scrapes /metrics every soakScrapeGap until stop closes, and
// returns each scrape's duration and the failures.
func scrapeTimes(url string, stop <-chan struct{}) (durations []time.Duration, failures []string) {
	hc := &http.Client{Timeout: 10 * time.Second}
	for {
		began := time.Now()
		resp, err := hc.Get(url)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("HTTP %d", resp.StatusCode)
			}
		}
		if err != nil {
			failures = append(failures, err.Error())
		} else {
			durations = append(durations, time.Since(began))
		}
		select {
		case <-stop:
			return durations, failures
		case <-time.After(soakScrapeGap):
		}
	}
}

func p99(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)*99-1)/100]
}

// slowClient holds a connection open by sending a request a byte a
// second: half of them their headers, half a push body. It starts again
// when the server hangs up, until stop closes.
func slowClient(addr string, i int, stop <-chan struct{}, opened *atomic.Int64) {
	head := "GET /metrics HTTP/1.1\r\nHost: soak\r\n"
	if i%2 == 1 {
		head = "POST /api/v1/journeys/" + durableRegistry + " HTTP/1.1\r\nHost: soak\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n["
	}
	for {
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			select {
			case <-stop:
				return
			case <-time.After(time.Second):
				continue
			}
		}
		opened.Add(1)
		_, err = io.WriteString(conn, head)
		for err == nil {
			select {
			case <-stop:
				_ = conn.Close()
				return
			case <-time.After(time.Second):
			}
			b := "X-Slow: 1\r\n"
			if i%2 == 1 {
				b = " "
			}
			_ = conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
			_, err = io.WriteString(conn, b)
		}
		_ = conn.Close()
	}
}

// 20,000 idle keep-alive connections, 1,000 slow clients and a push load
// at once do not stop /metrics: every scrape answers. The p99 of /metrics
// and the exporter's RSS, before, during and after, are logged.
func TestSoakConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("soak test: skipped with -short")
	}
	raiseFileLimit(t, 2*soakSlow+4096) // the slow clients, and idle connections as many as the server keeps
	idle := soakIdle
	bin := buildExporter(t)
	dir := t.TempDir()
	ids := writeIDFile(t, filepath.Join(dir, "ids.txt"), "soak%05d", 1000)
	const token = "soak-token-91c2"
	cfg := durableConfig(t, dir, busySim(t, token, ids), token, "ids.txt")
	p := startExporter(t, bin, "--config.file="+cfg, "--storage.path="+filepath.Join(dir, "data"))
	p.waitFor(t, 30*time.Second, func(metrics) []string {
		if code, _, err := get(p.url("/-/ready")); err != nil || code != http.StatusOK {
			return []string{"ready"}
		}
		return nil
	})
	pid := p.Cmd.Process.Pid
	addr := strings.TrimPrefix(p.base, "http://")
	metricsURL := p.url("/metrics")

	measure := func(d time.Duration) ([]time.Duration, []string) {
		stop := make(chan struct{})
		time.AfterFunc(d, func() { close(stop) })
		return scrapeTimes(metricsURL, stop)
	}
	beforeTimes, _ := measure(2 * time.Second)
	rssBefore := rss(pid)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var slowOpened, idleOpened, idleFailed atomic.Int64
	for i := range soakSlow {
		wg.Go(func() { slowClient(addr, i, stop, &slowOpened) })
	}
	// An idle connection is held until the server closes it, then let
	// go: the test process needs no file per connection ever made.
	var idleMu sync.Mutex
	idleConns := map[net.Conn]bool{}
	var idleOpen, idlePeak, idleClosedByServer atomic.Int64
	var holders sync.WaitGroup
	next := atomic.Int64{}
	var openers sync.WaitGroup
	for range 128 {
		openers.Go(func() {
			for next.Add(1) <= int64(idle) {
				select {
				case <-stop:
					return
				default:
				}
				c, err := idleConnection(addr, "")
				if err != nil {
					idleFailed.Add(1)
					continue
				}
				idleOpened.Add(1)
				idlePeak.Store(max(idlePeak.Load(), idleOpen.Add(1)))
				idleMu.Lock()
				idleConns[c] = true
				idleMu.Unlock()
				holders.Go(func() {
					_, err := c.Read(make([]byte, 1))
					idleMu.Lock()
					if idleConns[c] && !isTimeout(err) {
						idleClosedByServer.Add(1)
					}
					delete(idleConns, c)
					idleMu.Unlock()
					idleOpen.Add(-1)
					_ = c.Close()
				})
			}
		})
	}
	pushers := startPushing(t, p, soakPushers)
	soakBegan := time.Now()
	var rssPeak atomic.Int64
	wg.Go(func() {
		for {
			rssPeak.Store(max(rssPeak.Load(), rss(pid)))
			select {
			case <-stop:
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
	})
	go func() {
		minimum := time.After(soakMinDuration)
		done := make(chan struct{})
		go func() { openers.Wait(); close(done) }()
		select {
		case <-done:
			<-minimum
		case <-time.After(soakMaxDuration):
		}
		close(stop)
	}()
	duringTimes, failures := scrapeTimes(metricsURL, stop)
	wg.Wait()
	openers.Wait()
	idleMu.Lock()
	stillOpen := len(idleConns)
	for c := range idleConns {
		delete(idleConns, c)
		_ = c.Close()
	}
	idleMu.Unlock()
	holders.Wait()
	acked := pushers.count()
	soakTook := time.Since(soakBegan)

	afterTimes, _ := measure(3 * time.Second)
	rssAfter := rss(pid)
	// The pushers stop at the first request that fails: the exporter's end.
	p.Stop(t)
	pushers.wg.Wait()

	t.Logf("soak of %v: idle connections: %d opened (%d failed), at most %d at once, %d closed by the exporter, %d still open at the end; slow connections: %d opened; pushed ids acknowledged: %d",
		soakTook.Round(time.Second), idleOpened.Load(), idleFailed.Load(), idlePeak.Load(), idleClosedByServer.Load(), stillOpen, slowOpened.Load(), acked)
	t.Logf("/metrics p99: before %v (%d scrapes), during %v (%d scrapes, %d failed), after %v (%d scrapes)",
		p99(beforeTimes), len(beforeTimes), p99(duringTimes), len(duringTimes), len(failures), p99(afterTimes), len(afterTimes))
	t.Logf("exporter RSS: before %d MiB, peak during %d MiB, after %d MiB", rssBefore>>20, rssPeak.Load()>>20, rssAfter>>20)
	if len(failures) > 0 {
		t.Errorf("%d of %d scrapes failed during the soak, e.g. %s", len(failures), len(failures)+len(duringTimes), failures[0])
	}
	if idleOpened.Load() < int64(idle)/2 {
		t.Errorf("only %d of %d idle connections could be opened: the soak proves little", idleOpened.Load(), idle)
	}
	if acked == 0 {
		t.Error("no push was acknowledged during the soak")
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errorsAs(err, &ne) && ne.Timeout()
}
