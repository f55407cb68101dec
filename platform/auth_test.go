package platform_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/healthcare-ai/platform/auth"
	"github.com/healthcare-ai/platform/bus/bustest"
	"github.com/healthcare-ai/platform/platform"
)

// TestAuthRolesAndIdentity runs the platform with a users file: each route
// needs its role, and feedback and approvals are recorded under the signed-in
// user, never under a name the client sends.
func TestAuthRolesAndIdentity(t *testing.T) {
	users, err := auth.New([]auth.User{
		{ID: "ada", Name: "Dr. Ada L.", Roles: []auth.Role{auth.RoleRadiologist}, TokenSHA256: auth.HashToken("tok-ada")},
		{ID: "lead", Roles: []auth.Role{auth.RoleApprover}, TokenSHA256: auth.HashToken("tok-lead")},
		{ID: "vera", Roles: []auth.Role{auth.RoleViewer}, TokenSHA256: auth.HashToken("tok-vera")},
		{ID: "pacs", Roles: []auth.Role{auth.RoleIngest}, TokenSHA256: auth.HashToken("tok-pacs")},
	})
	if err != nil {
		t.Fatal(err)
	}
	p := startPlatform(t, t.TempDir(), func(c *platform.Config) { c.Auth = users })
	defer p.Stop(context.Background())
	base := "http://" + p.HTTPAddr().String()
	call := func(method, path, token, ct string, body []byte) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), method, base+path, bytes.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	expect := func(method, path, token, ct string, body []byte, want int, contains string) []byte {
		t.Helper()
		code, b := call(method, path, token, ct, body)
		if code != want || !strings.Contains(string(b), contains) {
			t.Fatalf("%s %s as %q: %d %s, want %d containing %q", method, path, token, code, b, want, contains)
		}
		return b
	}

	// Public routes need no token; the others answer 401 without one.
	expect("GET", "/healthz", "", "", nil, 200, "ok")
	expect("GET", "/openapi.json", "", "", nil, 200, "openapi")
	expect("GET", "/v1/metrics", "", "", nil, 401, "Authorization: Bearer")
	expect("GET", "/v1/metrics", "wrong", "", nil, 401, "not valid")
	expect("GET", "/v1/whoami", "tok-ada", "", nil, 200, `"id":"ada","name":"Dr. Ada L.","roles":["radiologist"],"auth":"token"`)

	// A machine uploads; it reads nothing else.
	var pr struct {
		RequestID string `json:"request_id"`
	}
	img := testPNG(t)
	json.Unmarshal(expect("POST", "/v1/predict", "tok-pacs", "image/png", img, 200, "request_id"), &pr)
	expect("POST", "/v1/predict", "tok-ada", "image/png", img, 403, "needs the role ingest")
	expect("GET", "/v1/metrics", "tok-pacs", "", nil, 403, "needs the role viewer")
	expect("GET", "/v1/metrics", "tok-vera", "", nil, 200, "experiments")

	// Feedback: the viewer may not; the radiologist's is recorded as hers,
	// pressing the button twice (same feedback_id) counts once, and she
	// cannot sign for someone else.
	fb := fmt.Sprintf(`{"feedback_id":"fb-ui-1","request_id":%q,"ground_truth":"PNEUMONIA","confidence":0.8,"source":"review-ui"}`, pr.RequestID)
	expect("POST", "/v1/feedback", "tok-vera", "application/json", []byte(fb), 403, "needs the role radiologist")
	expect("GET", "/v1/review/queue", "tok-vera", "", nil, 403, "needs the role radiologist")
	bustest.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		code, b := call("GET", "/v1/review/queue", "tok-ada", "", nil)
		if code != 200 || !strings.Contains(string(b), pr.RequestID) {
			return fmt.Errorf("review queue: %d %s", code, b)
		}
		return nil
	})
	expect("GET", "/v1/review/"+pr.RequestID+"/image", "tok-ada", "", nil, 200, "PNG")
	expect("POST", "/v1/feedback", "tok-ada", "application/json", []byte(fb), 202, "fb-ui-1")
	expect("POST", "/v1/feedback", "tok-ada", "application/json", []byte(fb), 202, "fb-ui-1")
	other := fmt.Sprintf(`{"request_id":%q,"ground_truth":"NORMAL","radiologist_id":"DR999"}`, pr.RequestID)
	expect("POST", "/v1/feedback", "tok-ada", "application/json", []byte(other), 400, `signed in as \"ada\"`)
	bustest.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		_, b := call("GET", "/v1/requests/"+pr.RequestID, "tok-vera", "", nil)
		var view struct {
			Feedback map[string]struct {
				RadiologistID string `json:"radiologist_id"`
			} `json:"feedback"`
		}
		json.Unmarshal(b, &view)
		if len(view.Feedback) != 1 || view.Feedback["fb-ui-1"].RadiologistID != "ada" {
			return fmt.Errorf("feedback of the request: %s", b)
		}
		return nil
	})
	// Answered requests leave the queue.
	bustest.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		_, b := call("GET", "/v1/review/queue", "tok-ada", "", nil)
		if strings.Contains(string(b), pr.RequestID) {
			return fmt.Errorf("still in the queue: %s", b)
		}
		return nil
	})

	// Approvals: the radiologist may not; the approver is recorded as
	// himself (409: nothing pending, so the action reached the engine).
	expect("POST", "/v1/rollout/pneumonia/approve", "tok-ada", "application/json", []byte(`{}`), 403, "needs the role approver")
	expect("GET", "/v1/rollout/pneumonia", "tok-vera", "", nil, 200, "pneumonia")
	expect("POST", "/v1/rollout/pneumonia/approve", "tok-lead", "application/json", []byte(`{"reason":"ok"}`), 409, "")
	expect("POST", "/v1/rollout/pneumonia/approve", "tok-lead", "application/json", []byte(`{"by":"someone-else"}`), 400, `signed in as \"lead\"`)
	expect("POST", "/v1/rollout/pneumonia/rollback", "tok-lead", "application/json", []byte(`{"reason":"test"}`), 200, `"actor": "lead"`)
}
