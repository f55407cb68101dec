package trace

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	const good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	p, err := Parse(good)
	if err != nil {
		t.Fatal(err)
	}
	if p.TraceID.String() != "4bf92f3577b34da6a3ce929d0e0e4736" || p.SpanID.String() != "00f067aa0ba902b7" || p.Flags != 1 {
		t.Fatalf("parsed %+v", p)
	}
	if p.String() != good {
		t.Fatalf("String() = %q, want %q", p.String(), good)
	}
	for _, ok := range []string{
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
		"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",                 // higher version
		"cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future", // with more fields
	} {
		if _, err := Parse(ok); err != nil {
			t.Errorf("Parse(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{
		"",
		"00",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",    // short
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",  // version 00 too long
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",   // uppercase
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01",   // zero trace id
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",   // zero span id
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   // version ff
		"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   // separator
		"00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",   // not hex
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",   // flags
		"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01xx", // future version, no '-'
		"zz-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   // version
	} {
		if _, err := Parse(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(%q) = %v, want ErrMalformed", bad, err)
		}
	}
}

func TestNewChildDerive(t *testing.T) {
	p := New()
	if !p.IsValid() || p.Flags != FlagSampled {
		t.Fatalf("New() = %+v", p)
	}
	c := p.Child()
	if c.TraceID != p.TraceID || c.SpanID == p.SpanID || !c.IsValid() {
		t.Fatalf("Child() = %+v of %+v", c, p)
	}
	if q, err := Parse(c.String()); err != nil || q != c {
		t.Fatalf("round trip %q: %+v, %v", c, q, err)
	}
	a, b := FromRequestID("req-1"), FromRequestID("req-1")
	if a != b || !a.IsValid() || a == FromRequestID("req-2") {
		t.Fatalf("FromRequestID not deterministic or not distinct: %v %v", a, b)
	}
	if Or("garbage", "req-1") != a {
		t.Fatal("Or on an invalid value must derive from the request id")
	}
	if Or(p.String(), "req-1") != p {
		t.Fatal("Or on a valid value must keep it")
	}
	ctx := NewContext(context.Background(), p)
	if got, ok := FromContext(ctx); !ok || got != p {
		t.Fatalf("FromContext = %v, %v", got, ok)
	}
	if _, ok := FromContext(context.Background()); ok {
		t.Fatal("FromContext of an empty context")
	}
}

// FuzzParse checks that Parse never panics, that what it accepts renders
// back to a valid version 00 value that parses to the same ids, and that a
// version 00 value it accepts round-trips exactly.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"",
		strings.Repeat("-", 55),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse(%q) error %v does not wrap ErrMalformed", s, err)
			}
			return
		}
		if !p.IsValid() {
			t.Fatalf("Parse(%q) accepted invalid %+v", s, p)
		}
		out := p.String()
		if len(out) != Len {
			t.Fatalf("String() = %q: length %d", out, len(out))
		}
		q, err := Parse(out)
		if err != nil || q != p {
			t.Fatalf("re-parse of %q: %+v, %v (want %+v)", out, q, err, p)
		}
		if strings.HasPrefix(s, "00-") && out != s {
			t.Fatalf("version 00 %q rendered as %q", s, out)
		}
	})
}
