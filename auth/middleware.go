package auth

import (
	"net/http"
	"strings"

	"github.com/healthcare-ai/platform/httpapi/problem"
)

// Problem types of authentication and authorisation.
var (
	ProblemUnauthenticated = problem.Kind{Slug: "unauthenticated", Title: "Authentication required", Status: http.StatusUnauthorized}
	ProblemForbidden       = problem.Kind{Slug: "forbidden", Title: "Not allowed", Status: http.StatusForbidden}
)

// AnyRole, as the role of Require, admits every authenticated user.
const AnyRole Role = ""

// Require wraps h so that it runs only for a request whose bearer token
// belongs to a user holding role need (any user when need is AnyRole), with
// the user's Identity in the request context. Without a valid token it
// answers 401 with a WWW-Authenticate challenge; with a user lacking the role,
// 403 naming the role. When users is nil (authentication off) every request
// runs as Anonymous.
func Require(users *Users, need Role, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if users == nil {
			h.ServeHTTP(w, r.WithContext(withAnonymous(r.Context())))
			return
		}
		token, present := bearer(r)
		id, ok := users.Lookup(token)
		if !ok {
			challenge := `Bearer realm="hap"`
			detail := "send \"Authorization: Bearer <token>\" (tokens are issued in the users file; see README, Authentication)"
			if present {
				challenge += `, error="invalid_token"`
				detail = "the bearer token is not valid"
			}
			w.Header().Set("WWW-Authenticate", challenge)
			problem.Write(w, ProblemUnauthenticated.New("Authorization", "%s", detail))
			return
		}
		if need != AnyRole && !id.Has(need) {
			problem.Write(w, ProblemForbidden.New("", "user %s (roles %s) may not %s %s: it needs the role %s",
				id.ID, joinRoles(id.Roles), r.Method, r.URL.Path, need))
			return
		}
		h.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), id)))
	})
}

// RequireRW is Require with one role for reads (GET, HEAD) and another for
// every other method.
func RequireRW(users *Users, read, write Role, h http.Handler) http.Handler {
	if read == write {
		return Require(users, read, h)
	}
	r, w := Require(users, read, h), Require(users, write, h)
	return http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodGet || req.Method == http.MethodHead {
			r.ServeHTTP(rw, req)
			return
		}
		w.ServeHTTP(rw, req)
	})
}

// bearer extracts the token of an "Authorization: Bearer <token>" header; the
// scheme is case-insensitive (RFC 9110). present reports whether an
// Authorization header was sent at all.
func bearer(r *http.Request) (token string, present bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", false
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", true
	}
	return strings.TrimSpace(tok), true
}

func joinRoles(rs []Role) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, ",")
}
