package svcmain

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"testing"
)

func TestEnv(t *testing.T) {
	const key = "SVCMAIN_TEST_ENV"
	tests := []struct {
		name  string
		set   bool
		value string
		want  string
	}{
		{name: "unset", want: "def"},
		{name: "empty", set: true, value: "", want: "def"},
		{name: "set", set: true, value: "val", want: "val"},
		{name: "spaces", set: true, value: " ", want: " "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.set {
				t.Setenv(key, tt.value)
			}
			if got := Env(key, "def"); got != tt.want {
				t.Errorf("Env(%q, %q) = %q, want %q", key, "def", got, tt.want)
			}
		})
	}
}

func TestLogger(t *testing.T) {
	tests := []struct {
		level     string
		wantDebug bool // a debug record is written
		wantInfo  bool // an info record is written
	}{
		{level: "debug", wantDebug: true, wantInfo: true},
		{level: "DEBUG", wantDebug: true, wantInfo: true},
		{level: "info", wantInfo: true},
		{level: "warn"},
		{level: "error"},
		{level: "info+2"},
	}
	for _, tt := range tests {
		t.Run(tt.level, func(t *testing.T) {
			var buf bytes.Buffer
			log, err := Logger(&buf, tt.level)
			if err != nil {
				t.Fatalf("Logger(%q): %v", tt.level, err)
			}
			log.Debug("debug record")
			log.Info("info record", "request_id", "r1")
			out := buf.String()
			if got := strings.Contains(out, "debug record"); got != tt.wantDebug {
				t.Errorf("debug record written = %v, want %v; output %q", got, tt.wantDebug, out)
			}
			if got := strings.Contains(out, "info record"); got != tt.wantInfo {
				t.Errorf("info record written = %v, want %v; output %q", got, tt.wantInfo, out)
			}
			for line := range strings.Lines(out) {
				var rec map[string]any
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Errorf("line %q is not JSON: %v", line, err)
				}
			}
		})
	}
}

func TestLoggerBadLevel(t *testing.T) {
	for _, level := range []string{"", "verbose", "info+x"} {
		t.Run(level, func(t *testing.T) {
			log, err := Logger(io.Discard, level)
			if err == nil {
				t.Fatalf("Logger(%q) = %v, nil; want an error", level, log)
			}
			if want := fmt.Sprintf("%q", level); !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name the level %s", err, want)
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{name: "nil", err: nil, want: 0},
		{name: "help", err: flag.ErrHelp, want: 0},
		{name: "wrapped help", err: fmt.Errorf("parse: %w", flag.ErrHelp), want: 0},
		{name: "usage", err: &UsageError{Err: errors.New("flag provided but not defined: -x")}, want: 2},
		{name: "wrapped usage", err: fmt.Errorf("cmd: %w", &UsageError{Err: errors.New("bad")}), want: 2},
		{name: "other", err: errors.New("connect nats: refused"), want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exitCode(tt.err); got != tt.want {
				t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

func TestReport(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		want    int
		wantOut string
	}{
		{name: "ok", want: 0},
		{name: "help", err: flag.ErrHelp, want: 0},
		{name: "error", err: errors.New("boom"), want: 1, wantOut: "svc: boom\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if got := report(&buf, "svc", tt.err); got != tt.want {
				t.Errorf("report = %d, want %d", got, tt.want)
			}
			if buf.String() != tt.wantOut {
				t.Errorf("stderr = %q, want %q", buf.String(), tt.wantOut)
			}
		})
	}
}

func TestParse(t *testing.T) {
	newFS := func() *flag.FlagSet {
		fs := flag.NewFlagSet("svc", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.String("nats", "", "")
		return fs
	}
	tests := []struct {
		name string
		args []string
		want int // exit code of the returned error
	}{
		{name: "ok", args: []string{"-nats", "x"}, want: 0},
		{name: "help", args: []string{"-h"}, want: 0},
		{name: "unknown flag", args: []string{"-bogus"}, want: 2},
		{name: "missing value", args: []string{"-nats"}, want: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Parse(newFS(), tt.args)
			if got := exitCode(err); got != tt.want {
				t.Errorf("Parse(%q) = %v: exit code %d, want %d", tt.args, err, got, tt.want)
			}
		})
	}
	if err := Parse(newFS(), []string{"-h"}); err != flag.ErrHelp {
		t.Errorf("Parse(-h) = %v, want flag.ErrHelp itself", err)
	}
}
