package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/healthcare-ai/platform/bus/bustest"
	"github.com/healthcare-ai/platform/proto"
)

// sseEvent is one parsed server-sent event.
type sseEvent struct{ id, typ, data string }

// readEvents parses a text/event-stream body, sending each event on the
// returned channel until the body ends.
func readEvents(body io.Reader) <-chan sseEvent {
	ch := make(chan sseEvent, 100)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.typ != "" {
					ch <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.typ = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.data += line[6:]
			}
		}
	}()
	return ch
}

func next(t *testing.T, ch <-chan sseEvent) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("event stream ended")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return sseEvent{}
}

func startServer(t *testing.T, cfg Config) (*Server, *bustest.Env, string) {
	t.Helper()
	env := bustest.Start(t)
	s, err := New(cfg, Deps{Conn: env.Conn, JS: env.JS})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		cancel()
		<-done
		hs.Close()
	})
	return s, env, hs.URL
}

func publish(t *testing.T, env *bustest.Env, subject string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.JS.Publish(t.Context(), subject, b); err != nil {
		t.Fatal(err)
	}
}

func connect(t *testing.T, url, lastID string) (*http.Response, <-chan sseEvent) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp, readEvents(resp.Body)
}

func snapshot(id string, predictions int) proto.MetricsSnapshot {
	return proto.MetricsSnapshot{SnapshotID: id, Experiment: "pneumonia", GeneratedAt: time.Now().UTC(),
		Models: []proto.ModelMetrics{{Arm: "champion", Predictions: predictions}}}
}

// TestEvents publishes history before a client connects and live events
// after, and checks the stream: history first (in order), the rejected
// counts, live events, resumption after Last-Event-ID, and that other
// experiments' events are not sent.
func TestEvents(t *testing.T) {
	_, env, base := startServer(t, Config{})
	publish(t, env, proto.MetricsExperimentSubject("pneumonia"), snapshot("s1", 1))
	publish(t, env, proto.MetricsExperimentSubject("other"), snapshot("o1", 9))
	publish(t, env, proto.DecisionSubject("pneumonia"), proto.DecisionEvent{DecisionID: "d1", Experiment: "pneumonia", Action: proto.ActionKeepTesting, Actor: "rollout-controller"})
	publish(t, env, proto.SubjectImageRejected, proto.ImageRejected{RequestID: "r1", ReasonCode: "too-small"})
	publish(t, env, proto.SubjectImageRejected, proto.ImageRejected{RequestID: "r2", ReasonCode: "too-small"})
	publish(t, env, proto.MetricsExperimentSubject("pneumonia"), snapshot("s2", 2))
	// The same snapshot again (a re-delivery): sent once.
	publish(t, env, proto.MetricsExperimentSubject("pneumonia"), snapshot("s2", 2))

	url := base + "/v1/events?experiment=pneumonia"
	var resp *http.Response
	var ch <-chan sseEvent
	var got []sseEvent
	bustest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		resp, ch = connect(t, url, "")
		got = nil
		for len(got) < 4 {
			got = append(got, next(t, ch))
		}
		resp.Body.Close()
		// History in the order the hub received it: the snapshots in order,
		// the decision anywhere (it comes from another stream), then the counts.
		var types, snaps []string
		for _, e := range got {
			types = append(types, e.typ)
			if e.typ == "snapshot" {
				var s proto.MetricsSnapshot
				json.Unmarshal([]byte(e.data), &s)
				snaps = append(snaps, s.SnapshotID)
			}
		}
		if strings.Join(snaps, ",") != "s1,s2" || types[3] != "rejected" || got[3].data != `{"too-small":2}` ||
			!strings.Contains(strings.Join(types, ","), "decision") {
			return fmt.Errorf("history %v, snapshots %v, rejected %s", types, snaps, got[3].data)
		}
		return nil
	})
	// The second snapshot's event.
	var s2 sseEvent
	for _, e := range got {
		if strings.Contains(e.data, `"s2"`) {
			s2 = e
		}
	}
	if resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
	}

	// Live: a drift report, an alert, a new snapshot; not the other experiment's.
	_, ch = connect(t, url, "")
	for range 4 {
		next(t, ch)
	}
	publish(t, env, proto.MetricsExperimentSubject("other"), snapshot("o2", 9))
	publish(t, env, "metrics.pneumonia.drift", map[string]any{"report_id": "x", "arm": "champion", "level": "ok"})
	env.Conn.Publish("alerts.pneumonia.drift", []byte(`{"alert_id":"a1","status":"firing"}`))
	publish(t, env, proto.MetricsExperimentSubject("pneumonia"), snapshot("s3", 3))
	want := map[string]string{"drift": `"subject":"metrics.pneumonia.drift"`, "alert": `"subject":"alerts.pneumonia.drift"`, "snapshot": `"s3"`}
	var lastID string
	for len(want) > 0 {
		ev := next(t, ch)
		sub, ok := want[ev.typ]
		if !ok || !strings.Contains(ev.data, sub) {
			t.Fatalf("unexpected event %+v", ev)
		}
		delete(want, ev.typ)
		lastID = ev.id // the stream is in id order
	}

	// Resume after the snapshot s2: only what came later, then the counts.
	// (The decision came before s2 or after it: count what is after s2.)
	_, ch = connect(t, url, s2.id)
	var types []string
	for {
		ev := next(t, ch)
		types = append(types, ev.typ)
		if ev.typ == "rejected" {
			break
		}
	}
	if len(types) < 4 || len(types) > 5 || types[len(types)-1] != "rejected" {
		t.Errorf("resumed after %s: %v, want drift, alert and snapshot (any order) then rejected", s2.id, types)
	}
	// Resume after the last: only the counts.
	_, ch = connect(t, url, lastID)
	if ev := next(t, ch); ev.typ != "rejected" {
		t.Errorf("resumed after the last event: got %+v", ev)
	}
}

func TestEventsErrors(t *testing.T) {
	s, _, base := startServer(t, Config{MaxClients: 1})
	for _, tc := range []struct {
		query  string
		status int
	}{{"", 400}, {"?experiment=a.b", 400}} {
		resp, err := http.Get(base + "/v1/events" + tc.query)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("GET /v1/events%s: %d %s", tc.query, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	_, ch := connect(t, base+"/v1/events?experiment=pneumonia", "")
	next(t, ch)
	resp, err := http.Get(base + "/v1/events?experiment=pneumonia")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("second client over the limit: %d", resp.StatusCode)
	}
	// CloseStreams ends the open stream.
	s.CloseStreams()
	select {
	case _, ok := <-ch:
		if ok {
			t.Error("event after CloseStreams")
		}
	case <-time.After(5 * time.Second):
		t.Error("stream still open 5s after CloseStreams")
	}
}

// TestSlowClientDropped fills a client's queue without reading it: the hub
// drops it and keeps serving the others.
func TestSlowClientDropped(t *testing.T) {
	h := newHub(Config{}.withDefaults(), discard())
	h.cfg.ClientBuffer = 2
	slow, _, err := h.subscribe("pneumonia", "")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		h.handle(proto.MetricsExperimentSubject("pneumonia"), fmt.Appendf(nil, `{"snapshot_id":"s%d"}`, i))
	}
	select {
	case <-slow.gone:
	default:
		t.Fatal("slow client not dropped")
	}
	fast, past, err := h.subscribe("pneumonia", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(past) != 4 { // 3 snapshots + counts
		t.Fatalf("history of a new client: %d events", len(past))
	}
	h.handle(proto.MetricsExperimentSubject("pneumonia"), []byte(`{"snapshot_id":"s9"}`))
	if e := <-fast.ch; !strings.Contains(string(e.data), "s9") {
		t.Fatalf("live event %s", e.data)
	}
}

func TestPagesAndAssets(t *testing.T) {
	_, _, base := startServer(t, Config{})
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for path, loc := range map[string]string{"/": "/dashboard", "/dashboard": "/dashboard?experiment=pneumonia", "/review?x=1": "/review?experiment=pneumonia&x=1"} {
		resp, err := noRedirect.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != loc {
			t.Errorf("GET %s: %d Location %q, want 302 %q", path, resp.StatusCode, resp.Header.Get("Location"), loc)
		}
	}
	for _, path := range []string{"/dashboard?experiment=pneumonia", "/review?experiment=pneumonia", "/static/dashboard.js", "/static/style.css"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		etag := resp.Header.Get("ETag")
		if resp.StatusCode != 200 || etag == "" || resp.Header.Get("Cache-Control") != "no-cache" {
			t.Errorf("GET %s: %d ETag %q Cache-Control %q", path, resp.StatusCode, etag, resp.Header.Get("Cache-Control"))
			continue
		}
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.Header.Set("If-None-Match", etag)
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s If-None-Match: %d, want 304", path, resp.StatusCode)
		}
	}
	resp, err := http.Get(base + "/static/nope.js")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("missing asset: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if ct := mustGet(t, base+"/static/api.js").Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
		t.Errorf("module Content-Type %q", ct)
	}
}

func mustGet(t *testing.T, url string) *http.Response {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}
