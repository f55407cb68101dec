package platform

import (
	"context"
	"testing"
	"time"
)

// TestEveryMountHasAnAccessRule: every route of the table names who may call
// it (public, or a role); a mount without a rule would be admin-only.
func TestEveryMountHasAnAccessRule(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.NATSPort = -1
	cfg.HTTPAddr = ""
	cfg.ModelsDir = "../models"
	cfg.SyncAlways = false
	cfg.TablesOff = true
	cfg.PatientSalt = "test-salt-0123456789abcdef"
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	p, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(context.Background())
	for _, m := range p.mounts() {
		if !m.access.set {
			t.Errorf("mount %q has no access rule: add .as(role), .asRW(read, write) or .open() in mounts()", m.pattern)
		}
	}
}
