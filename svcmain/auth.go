package svcmain

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/healthcare-ai/platform/auth"
)

// AuthFlag registers -auth on fs (default from the environment variable
// HAP_AUTH): the users file (package auth) whose bearer tokens the binary's
// HTTP API requires; empty serves it without authentication.
func AuthFlag(fs *flag.FlagSet) *string {
	return fs.String("auth", Env("HAP_AUTH", ""), "users `file` (bearer tokens and roles, see `hap auth`) the HTTP API requires; empty: no authentication (env HAP_AUTH)")
}

// LoadAuth loads the users file named by -auth and, until ctx ends, follows
// its changes (auth.Watch, every 5 s: hap auth add and remove take effect
// without a restart). An empty path returns nil users, and a warning when
// the binary serves HTTP: every request is then anonymous, with every role.
func LoadAuth(ctx context.Context, path, httpAddr string, log *slog.Logger) (*auth.Users, error) {
	if path == "" {
		if httpAddr != "" && log != nil {
			log.Warn("HTTP API without authentication: every request may act as anyone; give -auth a users file (hap auth add)", "http", httpAddr)
		}
		return nil, nil
	}
	users, err := auth.Load(path)
	if err != nil {
		return nil, &UsageError{Err: fmt.Errorf("-auth: %w", err)}
	}
	if log != nil {
		log.Info("HTTP API requires bearer tokens", "users", len(users.IDs()), "file", path)
	}
	go auth.Watch(ctx, path, users, 5*time.Second, log)
	return users, nil
}
