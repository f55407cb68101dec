package auth_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/healthcare-ai/platform/auth"
)

func TestNewRejectsBadFiles(t *testing.T) {
	good := auth.HashToken("t1")
	cases := map[string]struct {
		users []auth.User
		want  string
	}{
		"no users":     {nil, "no users"},
		"missing id":   {[]auth.User{{Roles: []auth.Role{auth.RoleViewer}, TokenSHA256: good}}, "users[0].id: required"},
		"no roles":     {[]auth.User{{ID: "a", TokenSHA256: good}}, "users[0] (a).roles: at least one role"},
		"unknown role": {[]auth.User{{ID: "a", Roles: []auth.Role{"doctor"}, TokenSHA256: good}}, `"doctor" is not a role`},
		"bad hash":     {[]auth.User{{ID: "a", Roles: []auth.Role{auth.RoleViewer}, TokenSHA256: "abc"}}, "token_sha256: want 64 hex digits"},
		"duplicate id": {[]auth.User{{ID: "a", Roles: []auth.Role{auth.RoleViewer}, TokenSHA256: good}, {ID: "a", Roles: []auth.Role{auth.RoleViewer}, TokenSHA256: auth.HashToken("t2")}}, `"a" appears twice`},
		"shared token": {[]auth.User{{ID: "a", Roles: []auth.Role{auth.RoleViewer}, TokenSHA256: good}, {ID: "b", Roles: []auth.Role{auth.RoleViewer}, TokenSHA256: good}}, "same token"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := auth.New(c.users)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestRoles(t *testing.T) {
	id := func(rs ...auth.Role) auth.Identity { return auth.Identity{ID: "x", Roles: rs} }
	cases := []struct {
		id   auth.Identity
		need auth.Role
		want bool
	}{
		{id(auth.RoleViewer), auth.RoleViewer, true},
		{id(auth.RoleViewer), auth.RoleRadiologist, false},
		{id(auth.RoleRadiologist), auth.RoleViewer, true},
		{id(auth.RoleRadiologist), auth.RoleApprover, false},
		{id(auth.RoleApprover), auth.RoleApprover, true},
		{id(auth.RoleApprover), auth.RoleRadiologist, false},
		{id(auth.RoleIngest), auth.RoleViewer, false},
		{id(auth.RoleIngest), auth.RoleIngest, true},
		{id(auth.RoleAdmin), auth.RoleIngest, true},
		{id(auth.RoleAdmin), auth.RoleApprover, true},
		{id(), auth.RoleViewer, false},
	}
	for _, c := range cases {
		if got := c.id.Has(c.need); got != c.want {
			t.Errorf("%v.Has(%s) = %v, want %v", c.id.Roles, c.need, got, c.want)
		}
	}
}

func TestBootstrapCreatesOnceAndLoads(t *testing.T) {
	dir := t.TempDir()
	path, tokPath := filepath.Join(dir, "auth.json"), filepath.Join(dir, "tokens.txt")
	u, issued, err := auth.Bootstrap(path, tokPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(issued) != len(auth.DefaultUsers()) {
		t.Fatalf("issued %d users, want %d", len(issued), len(auth.DefaultUsers()))
	}
	data, _ := os.ReadFile(path)
	for _, is := range issued {
		if strings.Contains(string(data), is.Token) {
			t.Fatalf("users file holds the clear token of %s", is.User.ID)
		}
		id, ok := u.Lookup(is.Token)
		if !ok || id.ID != is.User.ID {
			t.Fatalf("Lookup(token of %s) = %v, %v", is.User.ID, id, ok)
		}
	}
	for _, p := range []string{path, tokPath} {
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: mode %v, err %v; want 0600", p, st.Mode().Perm(), err)
		}
	}
	toks, err := auth.ReadTokens(tokPath)
	if err != nil || toks["radiologist"] != issued[1].Token {
		t.Fatalf("ReadTokens = %v, %v", toks, err)
	}
	// A second start loads the file and issues nothing new.
	u2, again, err := auth.Bootstrap(path, tokPath)
	if err != nil || len(again) != 0 {
		t.Fatalf("second Bootstrap: issued %d, err %v", len(again), err)
	}
	if id, ok := u2.Lookup(toks["admin"]); !ok || id.ID != "admin" {
		t.Fatalf("reloaded file does not know the admin token")
	}
	if _, ok := u2.Lookup("hap_wrong"); ok {
		t.Fatal("unknown token accepted")
	}
}

func TestLoadRejectsUnknownField(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.json")
	os.WriteFile(path, []byte(`{"users":[{"id":"a","roles":["viewer"],"token":"clear"}]}`), 0o600)
	if _, err := auth.Load(path); err == nil || !strings.Contains(err.Error(), `unknown field "token"`) {
		t.Fatalf("err = %v, want unknown field", err)
	}
}

func TestRequire(t *testing.T) {
	users, err := auth.New([]auth.User{
		{ID: "ada", Name: "Dr. Ada", Roles: []auth.Role{auth.RoleRadiologist}, TokenSHA256: auth.HashToken("tok-ada")},
		{ID: "pacs", Roles: []auth.Role{auth.RoleIngest}, TokenSHA256: auth.HashToken("tok-pacs")},
	})
	if err != nil {
		t.Fatal(err)
	}
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := auth.FromContext(r.Context())
		io.WriteString(w, id.ID)
	})
	cases := []struct {
		name   string
		users  *auth.Users
		need   auth.Role
		header string
		status int
		body   string
	}{
		{"no header", users, auth.RoleViewer, "", 401, "Authorization: Bearer"},
		{"wrong token", users, auth.RoleViewer, "Bearer nope", 401, "not valid"},
		{"basic scheme", users, auth.RoleViewer, "Basic YWRhOng=", 401, "not valid"},
		{"radiologist reads", users, auth.RoleViewer, "Bearer tok-ada", 200, "ada"},
		{"scheme case", users, auth.RoleViewer, "bearer tok-ada", 200, "ada"},
		{"radiologist approves", users, auth.RoleApprover, "Bearer tok-ada", 403, "needs the role approver"},
		{"ingest reads", users, auth.RoleViewer, "Bearer tok-pacs", 403, "needs the role viewer"},
		{"any role", users, auth.AnyRole, "Bearer tok-pacs", 200, "pacs"},
		{"auth off", nil, auth.RoleAdmin, "", 200, "anonymous"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "/v1/rollout/x/approve", nil)
			if c.header != "" {
				req.Header.Set("Authorization", c.header)
			}
			rec := httptest.NewRecorder()
			auth.Require(c.users, c.need, echo).ServeHTTP(rec, req)
			if rec.Code != c.status || !strings.Contains(rec.Body.String(), c.body) {
				t.Fatalf("got %d %q, want %d containing %q", rec.Code, rec.Body.String(), c.status, c.body)
			}
			if c.status == 401 {
				if !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), `Bearer realm="hap"`) {
					t.Fatalf("WWW-Authenticate = %q", rec.Header().Get("WWW-Authenticate"))
				}
				var p map[string]any
				if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p["status"] != float64(401) {
					t.Fatalf("body is not a 401 problem: %s", rec.Body.String())
				}
			}
		})
	}
}

func TestAuthenticatedOnlyForRealUsers(t *testing.T) {
	users, _ := auth.New([]auth.User{{ID: "ada", Roles: []auth.Role{auth.RoleRadiologist}, TokenSHA256: auth.HashToken("tok")}})
	var got []bool
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, ok := auth.Authenticated(r.Context())
		got = append(got, ok)
	})
	req := httptest.NewRequest("GET", "/", nil)
	auth.Require(nil, auth.RoleViewer, h).ServeHTTP(httptest.NewRecorder(), req)
	req.Header.Set("Authorization", "Bearer tok")
	auth.Require(users, auth.RoleViewer, h).ServeHTTP(httptest.NewRecorder(), req)
	if len(got) != 2 || got[0] || !got[1] {
		t.Fatalf("Authenticated = %v, want [false true] (auth off, then a real user)", got)
	}
}

func TestRequireRW(t *testing.T) {
	users, _ := auth.New([]auth.User{{ID: "vera", Roles: []auth.Role{auth.RoleViewer}, TokenSHA256: auth.HashToken("tok")}})
	h := auth.RequireRW(users, auth.RoleViewer, auth.RoleApprover, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for method, want := range map[string]int{"GET": 200, "HEAD": 200, "POST": 403, "DELETE": 403, "OPTIONS": 403} {
		req := httptest.NewRequest(method, "/v1/rollout/x", nil)
		req.Header.Set("Authorization", "Bearer tok")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("%s as a viewer: %d, want %d", method, rec.Code, want)
		}
	}
}

func TestWatchReloadsAndRevokes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.json")
	user := func(id, tok string) auth.User {
		return auth.User{ID: id, Roles: []auth.Role{auth.RoleViewer}, TokenSHA256: auth.HashToken(tok)}
	}
	if err := auth.Save(path, auth.File{Users: []auth.User{user("a", "tok-a")}}); err != nil {
		t.Fatal(err)
	}
	u, err := auth.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go auth.Watch(ctx, path, u, 5*time.Millisecond, nil)
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for end := time.Now().Add(5 * time.Second); !ok(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	// Revoke a, add b: without a restart.
	if err := auth.Save(path, auth.File{Users: []auth.User{user("b", "tok-b")}}); err != nil {
		t.Fatal(err)
	}
	waitFor("b to be known", func() bool { _, ok := u.Lookup("tok-b"); return ok })
	if _, ok := u.Lookup("tok-a"); ok {
		t.Fatal("a's token still accepted after it was removed from the file")
	}
	// A broken file keeps the users as they were.
	if err := os.WriteFile(path, []byte(`{"users": [`), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if _, ok := u.Lookup("tok-b"); !ok {
		t.Fatal("a broken users file dropped the users")
	}
}
