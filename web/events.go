package web

import (
	"bufio"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/healthcare-ai/platform/httpapi/problem"
	"github.com/healthcare-ai/platform/proto"
)

var problemBusy = problem.Kind{Slug: "unavailable", Title: "Service unavailable", Status: http.StatusServiceUnavailable}

// serveEvents streams the events of one experiment as server-sent events
// (text/event-stream):
//
//	retry: 2000
//
//	id: <hub>-<n>
//	event: snapshot | decision | drift | alert | metrics | rejected
//	data: <one line of JSON>
//
//	: heartbeat (every Config.Heartbeat)
//
// First the history the hub keeps for the experiment (after Last-Event-ID
// when the browser resumes), then the current rejected counts, then live
// events. The stream ends when the client goes, falls behind by more than
// Config.ClientBuffer events, or the server stops.
func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request) {
	exp := r.URL.Query().Get("experiment")
	if exp == "" {
		problem.Write(w, problemBadExperiment.New("experiment", "experiment: required (e.g. ?experiment=%s)", s.cfg.Experiment))
		return
	}
	if err := proto.ValidToken(exp); err != nil {
		problem.Write(w, problemBadExperiment.New("experiment", "experiment %q: %v", exp, err))
		return
	}
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = r.URL.Query().Get("last_event_id")
	}
	c, past, err := s.hub.subscribe(exp, last)
	if err != nil {
		w.Header().Set("Retry-After", "5")
		detail := "the server is stopping"
		if errors.Is(err, errTooManyClients) {
			detail = fmt.Sprintf("%d event streams are open, the limit", s.cfg.MaxClients)
		}
		problem.Write(w, problemBusy.New("", "%s", detail))
		return
	}
	defer s.hub.unsubscribe(c)

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 32<<10)
	write := func(f func()) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		f()
		if bw.Flush() != nil || rc.Flush() != nil {
			return false
		}
		return true
	}
	ok := write(func() {
		fmt.Fprintf(bw, "retry: %d\n\n", s.cfg.Retry.Milliseconds())
		for _, e := range past {
			s.writeEvent(bw, e)
		}
	})
	if !ok {
		return
	}
	beat := time.NewTicker(s.cfg.Heartbeat)
	defer beat.Stop()
	for ok {
		select {
		case <-r.Context().Done():
			return
		case <-c.gone:
			// Dropped: too slow (the browser resumes from its last event id),
			// or the server stops.
			return
		case e := <-c.ch:
			ok = write(func() {
				s.writeEvent(bw, e)
				// Send what else is queued in the same write.
				for n := len(c.ch); n > 0; n-- {
					s.writeEvent(bw, <-c.ch)
				}
			})
		case <-beat.C:
			ok = write(func() { fmt.Fprintf(bw, ": heartbeat %s\n\n", time.Now().UTC().Format(time.RFC3339)) })
		}
	}
}

// writeEvent writes one event. The JSON of the events is compact (one
// line), as published; a newline in it would end the data field, so data
// is written line by line as the format requires.
func (s *Server) writeEvent(bw *bufio.Writer, e event) {
	bw.WriteString("id: " + s.hub.eventID(e.id) + "\nevent: " + e.typ + "\n")
	start := 0
	for i, b := range e.data {
		if b == '\n' {
			bw.WriteString("data: ")
			bw.Write(e.data[start:i])
			bw.WriteByte('\n')
			start = i + 1
		}
	}
	bw.WriteString("data: ")
	bw.Write(e.data[start:])
	bw.WriteString("\n\n")
}
