package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/healthcare-ai/platform/auth"
	"github.com/healthcare-ai/platform/bus/bustest"
	"github.com/healthcare-ai/platform/platform"
	"github.com/healthcare-ai/platform/xray/synth"
)

func TestAuthCommand(t *testing.T) {
	file := filepath.Join(t.TempDir(), "users.json")
	stdout, stderr, code := hap(t, "auth", "add", "-file", file, "-id", "ada", "-name", "Dr. Ada", "-roles", "radiologist,approver")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	token := lines[len(lines)-1]
	u, err := auth.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := u.Lookup(token); !ok || id.ID != "ada" || !id.Has(auth.RoleApprover) {
		t.Fatalf("the printed token %q is not ada's: %v %v", token, id, ok)
	}
	if data, _ := os.ReadFile(file); strings.Contains(string(data), token) {
		t.Fatal("the users file holds the clear token")
	}
	if out, _, code := hap(t, "auth", "hash", token); code != 0 || strings.TrimSpace(out) != auth.HashToken(token) {
		t.Fatalf("hash: %q", out)
	}
	if out, _, code := hap(t, "auth", "check", "-file", file); code != 0 || !strings.Contains(out, "1 users: ada") {
		t.Fatalf("check: %d %q", code, out)
	}
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"add", "-file", file, "-id", "ada", "-roles", "viewer"}, `"ada" appears twice`},
		{[]string{"add", "-file", file, "-id", "bob", "-roles", "surgeon"}, `"surgeon" is not a role`},
		{[]string{"add", "-id", "bob", "-roles", "viewer"}, "-file is required"},
		{[]string{"frobnicate"}, "unknown subcommand"},
	} {
		if _, stderr, code := hap(t, append([]string{"auth"}, tc.args...)...); code != 2 || !strings.Contains(stderr, tc.msg) {
			t.Errorf("hap auth %s: exit %d, want 2 with %q: %s", strings.Join(tc.args, " "), code, tc.msg, stderr)
		}
	}
	// The file is unchanged by the refused additions.
	if u, err := auth.Load(file); err != nil || len(u.IDs()) != 1 {
		t.Fatalf("after refused adds: %v, %v", u.IDs(), err)
	}
	// Remove: the token stops working; the last user cannot be removed.
	if _, stderr, code := hap(t, "auth", "remove", "-file", file, "-id", "ada"); code != 2 || !strings.Contains(stderr, "no users") {
		t.Fatalf("removing the last user: exit %d: %s", code, stderr)
	}
	if _, stderr, code := hap(t, "auth", "add", "-file", file, "-id", "bob", "-roles", "viewer"); code != 0 {
		t.Fatalf("add bob: exit %d: %s", code, stderr)
	}
	if _, stderr, code := hap(t, "auth", "remove", "-file", file, "-id", "ada"); code != 0 {
		t.Fatalf("remove ada: exit %d: %s", code, stderr)
	}
	if u, err := auth.Load(file); err != nil || len(u.IDs()) != 1 || u.IDs()[0] != "bob" {
		t.Fatalf("after removing ada: %v, %v", u.IDs(), err)
	} else if _, ok := u.Lookup(token); ok {
		t.Fatal("ada's token still valid after remove")
	}
	if _, stderr, code := hap(t, "auth", "remove", "-file", file, "-id", "nobody"); code != 2 || !strings.Contains(stderr, `no user "nobody"`) {
		t.Fatalf("remove nobody: exit %d: %s", code, stderr)
	}
}

// TestFeedbackCommandWithToken records feedback as the token's user on a
// platform that authenticates.
func TestFeedbackCommandWithToken(t *testing.T) {
	users, _ := auth.New([]auth.User{
		{ID: "ada", Roles: []auth.Role{auth.RoleRadiologist}, TokenSHA256: auth.HashToken("tok-ada")},
		{ID: "pacs", Roles: []auth.Role{auth.RoleIngest}, TokenSHA256: auth.HashToken("tok-pacs")},
	})
	p, url := startTestPlatform(t, func(c *platform.Config) { c.Auth = users })
	root := synthImages(t, 1, synth.DICOMOff)
	files, _ := filepath.Glob(filepath.Join(root, "test", "NORMAL", "*.jpeg"))
	stdout, stderr, code := hap(t, "predict", "-url", url, "-token", "tok-pacs", "-json", files[0])
	if code != 0 {
		t.Fatalf("predict: exit %d: %s", code, stderr)
	}
	var pr struct {
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal([]byte(strings.SplitN(stdout, "\n", 2)[0]), &pr); err != nil || pr.RequestID == "" {
		t.Fatalf("predict output %q: %v", stdout, err)
	}
	if _, stderr, code := hap(t, "feedback", "-url", url, "-request", pr.RequestID, "-truth", "NORMAL", "-radiologist", "ada"); code != 1 || !strings.Contains(stderr, "401") {
		t.Fatalf("without a token: exit %d: %s", code, stderr)
	}
	if _, stderr, code := hap(t, "feedback", "-url", url, "-token", "tok-ada", "-request", pr.RequestID, "-truth", "NORMAL"); code != 0 {
		t.Fatalf("with a token: exit %d: %s", code, stderr)
	}
	bustest.CheckFor(t, 15*time.Second, 50*time.Millisecond, func() error {
		view, err := p.Evaluator.Request(t.Context(), pr.RequestID)
		if err != nil {
			return err
		}
		for _, f := range view.Feedback {
			if f.RadiologistID == "ada" {
				return nil
			}
		}
		return fmt.Errorf("feedback %+v", view.Feedback)
	})
}
