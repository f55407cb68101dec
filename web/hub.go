package web

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/healthcare-ai/platform/proto"
)

// Event types of the stream (the SSE "event:" field).
const (
	EventSnapshot = "snapshot" // proto.MetricsSnapshot, as published
	EventDecision = "decision" // proto.DecisionEvent, as published
	EventDrift    = "drift"    // {"subject", "data"}: metrics.<experiment>.drift...
	EventAlert    = "alert"    // {"subject", "data"}: alerts.<experiment>...
	EventMetrics  = "metrics"  // {"subject", "data"}: any other metrics.<experiment>.<x> except model.<arm>
	EventRejected = "rejected" // {"<reason_code>": count, ...} of xray.rejected since the hub started counting
)

// event is one message of the stream. Its id is the hub's sequence number.
type event struct {
	id   uint64
	typ  string
	data []byte
}

// ring keeps the last cap events.
type ring struct {
	cap int
	buf []event
}

func (r *ring) add(e event) {
	if len(r.buf) == r.cap {
		copy(r.buf, r.buf[1:])
		r.buf = r.buf[:r.cap-1]
	}
	r.buf = append(r.buf, e)
}

// history is what the hub keeps of one experiment.
type history struct {
	snapshots, decisions, alerts ring
	seen                         map[string]uint64 // snapshot and decision ids -> event id (de-duplication)
}

// client is one connected event stream.
type client struct {
	exp  string
	ch   chan event
	gone chan struct{} // closed when the hub drops the client
}

var (
	errTooManyClients = errors.New("too many event streams")
	errClosed         = errors.New("event hub closed")
)

// hub fans the followed messages out to the clients.
type hub struct {
	cfg  Config
	log  *slog.Logger
	boot string // distinguishes event ids of this hub from an earlier one's

	mu              sync.Mutex
	seq             uint64
	exps            map[string]*history
	clients         map[*client]struct{}
	rejected        map[string]int
	rejectedChanged bool
	closed          bool
}

func newHub(cfg Config, log *slog.Logger) *hub {
	return &hub{
		cfg: cfg, log: log, boot: strconv.FormatInt(time.Now().UnixNano(), 36),
		exps: map[string]*history{}, clients: map[*client]struct{}{}, rejected: map[string]int{},
	}
}

// eventID renders the id of an event for the SSE "id:" field.
func (h *hub) eventID(seq uint64) string { return h.boot + "-" + strconv.FormatUint(seq, 10) }

// parseLastID returns the sequence of a Last-Event-ID this hub gave out, or
// 0 (replay everything) for an empty, foreign or malformed id.
func (h *hub) parseLastID(id string) uint64 {
	boot, seq, ok := strings.Cut(id, "-")
	if !ok || boot != h.boot {
		return 0
	}
	n, err := strconv.ParseUint(seq, 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// handle routes one NATS message by its subject.
func (h *hub) handle(subject string, data []byte) {
	tok := proto.SubjectTokens(subject)
	switch {
	case subject == proto.SubjectImageRejected:
		var ev struct {
			ReasonCode string `json:"reason_code"`
		}
		if err := json.Unmarshal(data, &ev); err != nil {
			h.log.Warn("invalid rejected event skipped", "subject", subject, "err", err)
			return
		}
		if ev.ReasonCode == "" {
			ev.ReasonCode = "unknown"
		}
		h.mu.Lock()
		if _, ok := h.rejected[ev.ReasonCode]; ok || len(h.rejected) < 256 {
			h.rejected[ev.ReasonCode]++
			h.rejectedChanged = true
		}
		h.mu.Unlock()
	case len(tok) >= 3 && tok[0] == "metrics":
		switch {
		case tok[2] == "experiment" && len(tok) == 3:
			h.publishKeyed(tok[1], EventSnapshot, "snapshot_id", data)
		case tok[2] == "model":
			// The per-arm copies of what the snapshot already has.
		case tok[2] == "drift":
			h.publish(tok[1], EventDrift, wrap(subject, data))
		default:
			h.publish(tok[1], EventMetrics, wrap(subject, data))
		}
	case len(tok) == 2 && tok[0] == "decisions":
		h.publishKeyed(tok[1], EventDecision, "decision_id", data)
	case len(tok) >= 2 && tok[0] == "alerts":
		h.publish(tok[1], EventAlert, wrap(subject, data))
	}
}

// wrap passes a message of a subject whose schema this package does not
// know through with its subject: {"subject": ..., "data": <the JSON>}.
func wrap(subject string, data []byte) []byte {
	raw := json.RawMessage(data)
	if !json.Valid(data) {
		s, _ := json.Marshal(string(data))
		raw = s
	}
	b, _ := json.Marshal(struct {
		Subject string          `json:"subject"`
		Data    json.RawMessage `json:"data"`
	}{subject, raw})
	return b
}

// publishKeyed publishes an event unless one with the same key (snapshot_id,
// decision_id) was already published: a re-delivered message counts once.
func (h *hub) publishKeyed(exp, typ, field string, data []byte) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		h.log.Warn("invalid event skipped", "type", typ, "experiment", exp, "err", err)
		return
	}
	var key string
	_ = json.Unmarshal(m[field], &key)
	h.publishAs(exp, typ, key, data)
}

func (h *hub) publish(exp, typ string, data []byte) { h.publishAs(exp, typ, "", data) }

func (h *hub) publishAs(exp, typ, key string, data []byte) {
	if proto.ValidToken(exp) != nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	hist := h.history(exp)
	if hist == nil {
		return
	}
	if key != "" {
		if _, dup := hist.seen[typ+":"+key]; dup {
			return
		}
	}
	h.seq++
	e := event{id: h.seq, typ: typ, data: data}
	switch typ {
	case EventSnapshot:
		hist.snapshots.add(e)
	case EventDecision:
		hist.decisions.add(e)
	default:
		hist.alerts.add(e)
	}
	if key != "" {
		hist.seen[typ+":"+key] = e.id
		h.trimSeen(hist)
	}
	for c := range h.clients {
		if c.exp == exp {
			h.send(c, e)
		}
	}
}

// history returns the history of exp, creating it while fewer than
// MaxExperiments are kept (nil beyond: such an experiment is not shown).
func (h *hub) history(exp string) *history {
	hist, ok := h.exps[exp]
	if ok {
		return hist
	}
	if len(h.exps) >= h.cfg.MaxExperiments {
		return nil
	}
	hist = &history{
		snapshots: ring{cap: h.cfg.Snapshots}, decisions: ring{cap: h.cfg.Decisions}, alerts: ring{cap: h.cfg.Alerts},
		seen: map[string]uint64{},
	}
	h.exps[exp] = hist
	return hist
}

// trimSeen keeps the de-duplication keys of the events still in the
// history (and of the ones just before them).
func (h *hub) trimSeen(hist *history) {
	limit := 2 * (h.cfg.Snapshots + h.cfg.Decisions)
	if len(hist.seen) <= limit {
		return
	}
	oldest := h.seq
	for _, r := range []ring{hist.snapshots, hist.decisions} {
		if len(r.buf) > 0 && r.buf[0].id < oldest {
			oldest = r.buf[0].id
		}
	}
	for k, id := range hist.seen {
		if id < oldest {
			delete(hist.seen, k)
		}
	}
}

// send queues e for c, or drops c when its queue is full. h.mu is held.
func (h *hub) send(c *client, e event) {
	select {
	case c.ch <- e:
	default:
		h.log.Warn("slow event stream dropped", "experiment", c.exp, "queued", len(c.ch))
		h.drop(c)
	}
}

// drop removes c. h.mu is held.
func (h *hub) drop(c *client) {
	if _, ok := h.clients[c]; ok {
		delete(h.clients, c)
		close(c.gone)
	}
}

// subscribe registers a client of exp and returns, atomically with the
// registration, the history it has not seen (after lastID) and the current
// rejected counts: nothing is lost or repeated between history and live
// events.
func (h *hub) subscribe(exp, lastID string) (*client, []event, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, nil, errClosed
	}
	if len(h.clients) >= h.cfg.MaxClients {
		return nil, nil, errTooManyClients
	}
	after := h.parseLastID(lastID)
	var past []event
	if hist, ok := h.exps[exp]; ok {
		for _, r := range []ring{hist.snapshots, hist.decisions, hist.alerts} {
			for _, e := range r.buf {
				if e.id > after {
					past = append(past, e)
				}
			}
		}
	}
	slices.SortFunc(past, func(a, b event) int { return cmp.Compare(a.id, b.id) })
	// The counts so far, under the latest id: a resumed client gets them again.
	past = append(past, event{id: h.seq, typ: EventRejected, data: h.rejectedJSON()})
	c := &client{exp: exp, ch: make(chan event, h.cfg.ClientBuffer), gone: make(chan struct{})}
	h.clients[c] = struct{}{}
	return c, past, nil
}

func (h *hub) unsubscribe(c *client) {
	h.mu.Lock()
	h.drop(c)
	h.mu.Unlock()
}

func (h *hub) rejectedJSON() []byte {
	b, _ := json.Marshal(h.rejected)
	return b
}

// tick sends the rejected counts to every client at most once a second
// while they change.
func (h *hub) tick(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h.mu.Lock()
		if h.rejectedChanged && !h.closed {
			h.rejectedChanged = false
			h.seq++
			e := event{id: h.seq, typ: EventRejected, data: h.rejectedJSON()}
			for _, c := range slices.Collect(maps.Keys(h.clients)) {
				h.send(c, e)
			}
		}
		h.mu.Unlock()
	}
}

// close drops every client and refuses new ones.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for c := range h.clients {
		h.drop(c)
	}
}
