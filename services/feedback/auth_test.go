package feedback_test

import (
	"errors"
	"testing"
	"time"

	"github.com/healthcare-ai/platform/auth"
	"github.com/healthcare-ai/platform/bus/bustest"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/feedback"
	"github.com/healthcare-ai/platform/services/feedback/client"
)

// TestOwnListenerRequiresTokens: the feedback binary's own HTTP listener,
// given users (-auth), refuses requests without a radiologist's token and
// records feedback under the signed-in user.
func TestOwnListenerRequiresTokens(t *testing.T) {
	env := bustest.Start(t)
	users, err := auth.New([]auth.User{
		{ID: "ada", Roles: []auth.Role{auth.RoleRadiologist}, TokenSHA256: auth.HashToken("tok-ada")},
		{ID: "vera", Roles: []auth.Role{auth.RoleViewer}, TokenSHA256: auth.HashToken("tok-vera")},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := feedback.DefaultConfig()
	cfg.HTTPAddr = "127.0.0.1:0"
	svc, err := feedback.New(cfg, feedback.Deps{JS: env.JS, Auth: users})
	if err != nil {
		t.Fatal(err)
	}
	startRun(t, svc)
	bustest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if svc.Addr() == nil {
			return errors.New("not listening")
		}
		return nil
	})
	base := "http://" + svc.Addr().String()
	for token, want := range map[string]int{"": 401, "wrong": 401, "tok-vera": 403} {
		c, _ := client.New(base, client.WithToken(token))
		_, err := c.SubmitFeedback(t.Context(), "r1", "true-positive", client.RadiologistID("DR1"))
		var p *client.Problem
		if !errors.As(err, &p) || p.Status != want {
			t.Errorf("token %q: %v, want a %d problem", token, err, want)
		}
	}
	c, _ := client.New(base, client.WithToken("tok-ada"))
	rec, err := c.SubmitFeedback(t.Context(), "r1", "true-positive")
	if err != nil {
		t.Fatal(err)
	}
	var ev proto.FeedbackRecorded
	if err := proto.Decode(lastMsg(t, env.JS, proto.StreamFeedback, proto.SubjectFeedbackRecorded).Data, &ev); err != nil || ev.RadiologistID != "ada" || ev.FeedbackID != rec.FeedbackID {
		t.Fatalf("recorded %+v (%v), want radiologist ada", ev, err)
	}
}
