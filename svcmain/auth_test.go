package svcmain

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/healthcare-ai/platform/auth"
)

func TestLoadAuth(t *testing.T) {
	if u, err := LoadAuth(t.Context(), "", "127.0.0.1:8083", nil); u != nil || err != nil {
		t.Fatalf("no -auth: %v, %v; want nil users", u, err)
	}
	var usage *UsageError
	if _, err := LoadAuth(t.Context(), filepath.Join(t.TempDir(), "missing.json"), "", nil); !errors.As(err, &usage) {
		t.Fatalf("missing file: %v, want a usage error", err)
	}
	path := filepath.Join(t.TempDir(), "users.json")
	if err := auth.Save(path, auth.File{Users: []auth.User{{ID: "a", Roles: []auth.Role{auth.RoleViewer}, TokenSHA256: auth.HashToken("t")}}}); err != nil {
		t.Fatal(err)
	}
	u, err := LoadAuth(t.Context(), path, "", nil)
	if err != nil || u == nil {
		t.Fatalf("users file: %v, %v", u, err)
	}
	if _, ok := u.Lookup("t"); !ok {
		t.Fatal("token not known")
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("users file mode %v, want 0600", st.Mode().Perm())
	}
}
