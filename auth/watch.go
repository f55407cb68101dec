package auth

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"os"
	"time"
)

// Watch reloads the users file at path into u whenever its content differs
// from what u was loaded from, checking every interval, until ctx ends. A
// file that fails to load (being edited, invalid) is logged once and the
// users stay as they were. Removing a user from the file (hap auth remove)
// thus revokes its token within one interval, without a restart.
func Watch(ctx context.Context, path string, u *Users, interval time.Duration, log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var failed [sha256.Size]byte // content that failed to load, not retried
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		sum := sha256.Sum256(data)
		if sum == u.set.Load().source || sum == failed {
			continue
		}
		next, err := Load(path)
		if err != nil {
			log.Error("users file changed but does not load; keeping the previous users", "file", path, "err", err)
			failed = sum
			continue
		}
		u.Replace(next)
		log.Info("users file reloaded", "file", path, "users", len(next.IDs()))
	}
}
