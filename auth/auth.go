// Package auth maps bearer tokens to users and roles, and decides what each
// role may do on the platform's HTTP API.
//
// The users live in a JSON file that holds only the SHA-256 of each token:
//
//	{"users": [
//	  {"id": "ada", "name": "Dr. Ada L.", "roles": ["radiologist", "approver"],
//	   "token_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}
//	]}
//
// A request carries "Authorization: Bearer <token>"; Middleware resolves it to
// an Identity, checks the role the route needs, and puts the Identity in the
// request context, where handlers read it with FromContext. The identity is
// what feedback and approvals are recorded under: a radiologist never types
// their name.
//
// The package depends on the standard library and httpapi/problem only.
package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
)

// Role is what a user may do. Roles are not ordered; RoleAdmin may do
// everything, and every role but RoleIngest may also read (RoleViewer).
type Role string

// The roles.
const (
	// RoleViewer reads metrics, requests, models and the rollout state, and
	// watches the dashboard.
	RoleViewer Role = "viewer"
	// RoleRadiologist also reads the review queue and its images and submits
	// feedback, recorded under the user's id.
	RoleRadiologist Role = "radiologist"
	// RoleApprover also approves or rejects a recommended promotion or
	// rollback, and promotes, rolls back or starts an experiment by hand.
	RoleApprover Role = "approver"
	// RoleIngest is for machines: PACS integrations and clients that upload
	// images (POST /v1/images, /v1/predict, STOW-RS) and call the models
	// (/v2 inference, /invocations). It reads nothing else.
	RoleIngest Role = "ingest"
	// RoleAdmin may do everything.
	RoleAdmin Role = "admin"
)

// Roles lists every role, for messages and validation.
var Roles = []Role{RoleViewer, RoleRadiologist, RoleApprover, RoleIngest, RoleAdmin}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// Identity is an authenticated user.
type Identity struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Roles []Role `json:"roles"`
}

// Anonymous is the identity of every request when the platform runs without
// authentication (local development only): it holds every role.
var Anonymous = Identity{ID: "anonymous", Name: "anonymous", Roles: []Role{RoleViewer, RoleRadiologist, RoleApprover, RoleIngest, RoleAdmin}}

// Has reports whether the identity may act in role need: it holds need, or
// admin, or need is viewer and it holds any role but ingest.
func (id Identity) Has(need Role) bool {
	for _, r := range id.Roles {
		switch {
		case r == need, r == RoleAdmin:
			return true
		case need == RoleViewer && r != RoleIngest:
			return true
		}
	}
	return false
}

// User is one entry of the users file.
type User struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	// Roles the user holds.
	Roles []Role `json:"roles"`
	// TokenSHA256 is the lowercase hex SHA-256 of the user's bearer token.
	TokenSHA256 string `json:"token_sha256"`
}

// File is the JSON document of a users file.
type File struct {
	Users []User `json:"users"`
}

// Users resolves tokens to identities. It is safe for concurrent use; Watch
// (or Replace) swaps the whole set at once, so a request sees either the old
// users or the new ones.
type Users struct {
	set atomic.Pointer[userSet]
}

// userSet is one immutable version of the users.
type userSet struct {
	byHash map[string]Identity
	ids    []string
	source [sha256.Size]byte // SHA-256 of the file it was loaded from (Load)
}

// New checks the users and indexes them by token hash. Errors name the user
// (by position and id) and the field.
func New(users []User) (*Users, error) {
	set, err := newSet(users)
	if err != nil {
		return nil, err
	}
	u := &Users{}
	u.set.Store(set)
	return u, nil
}

// Replace swaps in other's users (after a reload of the file).
func (u *Users) Replace(other *Users) { u.set.Store(other.set.Load()) }

func newSet(users []User) (*userSet, error) {
	u := &userSet{byHash: map[string]Identity{}}
	seen := map[string]bool{}
	for i, usr := range users {
		where := fmt.Sprintf("users[%d]", i)
		id := strings.TrimSpace(usr.ID)
		if id == "" {
			return nil, fmt.Errorf("%s.id: required", where)
		}
		if len(id) > 200 {
			return nil, fmt.Errorf("%s.id: longer than 200 characters", where)
		}
		where += fmt.Sprintf(" (%s)", id)
		if seen[id] {
			return nil, fmt.Errorf("%s.id: %q appears twice", where, id)
		}
		seen[id] = true
		if len(usr.Roles) == 0 {
			return nil, fmt.Errorf("%s.roles: at least one role is required (%s)", where, roleList())
		}
		for _, r := range usr.Roles {
			if !r.Valid() {
				return nil, fmt.Errorf("%s.roles: %q is not a role (%s)", where, r, roleList())
			}
		}
		h := strings.ToLower(strings.TrimSpace(usr.TokenSHA256))
		if b, err := hex.DecodeString(h); err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("%s.token_sha256: want 64 hex digits (the SHA-256 of the token; `hap auth hash` prints it)", where)
		}
		if _, dup := u.byHash[h]; dup {
			return nil, fmt.Errorf("%s.token_sha256: the same token is given to another user", where)
		}
		name := strings.TrimSpace(usr.Name)
		if name == "" {
			name = id
		}
		u.byHash[h] = Identity{ID: id, Name: name, Roles: slices.Clone(usr.Roles)}
		u.ids = append(u.ids, id)
	}
	if len(u.byHash) == 0 {
		return nil, errors.New("users: the file has no users")
	}
	return u, nil
}

func roleList() string {
	s := make([]string, len(Roles))
	for i, r := range Roles {
		s[i] = string(r)
	}
	return "one of " + strings.Join(s, ", ")
}

// Load reads a users file.
func Load(path string) (*Users, error) {
	f, data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	u, err := New(f.Users)
	if err != nil {
		return nil, fmt.Errorf("auth: users file %s: %w", path, err)
	}
	u.set.Load().source = sha256.Sum256(data)
	return u, nil
}

// ReadFile reads a users file without checking its users (New does), for
// tools that edit it. Unknown fields are an error, so that an edit never
// drops them silently; a missing file's error wraps os.ErrNotExist.
func ReadFile(path string) (File, error) {
	f, _, err := readFile(path)
	return f, err
}

func readFile(path string) (File, []byte, error) {
	var f File
	data, err := os.ReadFile(path)
	if err != nil {
		return f, nil, fmt.Errorf("auth: read users file: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return f, nil, fmt.Errorf("auth: users file %s: %w", path, err)
	}
	return f, data, nil
}

// IDs lists the user ids in file order.
func (u *Users) IDs() []string { return slices.Clone(u.set.Load().ids) }

// Lookup returns the identity of a bearer token.
func (u *Users) Lookup(token string) (Identity, bool) {
	if token == "" {
		return Identity{}, false
	}
	id, ok := u.set.Load().byHash[HashToken(token)]
	return id, ok
}

// HashToken is the lowercase hex SHA-256 of a token, as stored in the file.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// NewToken returns a fresh random token: "hap_" and 32 random bytes in
// URL-safe base64 (no padding), safe in a URL fragment and a header.
func NewToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return "hap_" + base64.RawURLEncoding.EncodeToString(b)
}

// Issued is a user created by Bootstrap with its token in clear.
type Issued struct {
	User  User
	Token string
}

// DefaultUsers are the users Bootstrap creates: one per role, for a local
// installation to start from.
func DefaultUsers() []User {
	return []User{
		{ID: "admin", Name: "Administrator", Roles: []Role{RoleAdmin}},
		{ID: "radiologist", Name: "Demo Radiologist", Roles: []Role{RoleRadiologist}},
		{ID: "approver", Name: "Clinical Lead", Roles: []Role{RoleApprover, RoleRadiologist}},
		{ID: "viewer", Name: "Viewer", Roles: []Role{RoleViewer}},
		{ID: "pacs", Name: "PACS integration", Roles: []Role{RoleIngest}},
	}
}

// Bootstrap makes sure a users file exists at path. When it does not, it
// issues DefaultUsers there (see Issue) and returns them with their tokens.
// When the file exists it is loaded and nothing is issued.
func Bootstrap(path, tokensPath string) (*Users, []Issued, error) {
	if _, err := os.Stat(path); err == nil {
		u, err := Load(path)
		return u, nil, err
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("auth: users file: %w", err)
	}
	return Issue(path, tokensPath, DefaultUsers())
}

// Issue gives each user a fresh token and writes a new users file at path
// (the token hashes only) and the tokens in clear to tokensPath (mode 0600,
// "id<TAB>token" lines), replacing both.
func Issue(path, tokensPath string, users []User) (*Users, []Issued, error) {
	var f File
	var issued []Issued
	for _, usr := range users {
		tok := NewToken()
		usr.TokenSHA256 = HashToken(tok)
		f.Users = append(f.Users, usr)
		issued = append(issued, Issued{User: usr, Token: tok})
	}
	u, err := New(f.Users)
	if err != nil {
		return nil, nil, err
	}
	var lines strings.Builder
	lines.WriteString("# Bearer tokens of the users in " + filepath.Base(path) + " (created by hap; keep private).\n")
	for _, is := range issued {
		fmt.Fprintf(&lines, "%s\t%s\n", is.User.ID, is.Token)
	}
	if err := writeFile(tokensPath, []byte(lines.String()), 0o600); err != nil {
		return nil, nil, err
	}
	if err := writeUsers(path, f); err != nil {
		return nil, nil, err
	}
	return u, issued, nil
}

// Save writes a users file atomically (mode 0600), after checking it.
func Save(path string, f File) error {
	if _, err := New(f.Users); err != nil {
		return err
	}
	return writeUsers(path, f)
}

// writeUsers writes checked users as indented JSON, atomically, mode 0600.
func writeUsers(path string, f File) error {
	data, _ := json.MarshalIndent(f, "", "  ")
	return writeFile(path, append(data, '\n'), 0o600)
}

// ReadTokens reads a tokens file written by Bootstrap: user id -> token.
func ReadTokens(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: read tokens: %w", err)
	}
	out := map[string]string{}
	for line := range strings.SplitSeq(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, tok, ok := strings.Cut(line, "\t")
		if !ok {
			return nil, fmt.Errorf("auth: tokens file %s: line %q: want id<TAB>token", path, line)
		}
		out[id] = tok
	}
	return out, nil
}

// writeFile writes data atomically (temporary file, then rename).
func writeFile(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("auth: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("auth: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("auth: write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	return nil
}

type ctxKey struct{}

type ctxValue struct {
	id            Identity
	authenticated bool
}

// WithIdentity returns ctx carrying id, an authenticated user.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, ctxValue{id: id, authenticated: true})
}

// withAnonymous returns ctx carrying Anonymous (authentication off).
func withAnonymous(ctx context.Context) context.Context {
	return context.WithValue(ctx, ctxKey{}, ctxValue{id: Anonymous})
}

// FromContext returns the identity Middleware put in ctx: an authenticated
// user, or Anonymous when authentication is off. ok is false outside
// Require.
func FromContext(ctx context.Context) (id Identity, ok bool) {
	v, ok := ctx.Value(ctxKey{}).(ctxValue)
	return v.id, ok
}

// Authenticated returns the user of ctx when the request carried a valid
// token; it is false when authentication is off (Anonymous) and outside
// Require. Handlers record actions under this identity instead of a name the
// client sends.
func Authenticated(ctx context.Context) (Identity, bool) {
	v, ok := ctx.Value(ctxKey{}).(ctxValue)
	return v.id, ok && v.authenticated
}
