package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/healthcare-ai/platform/auth"
)

// authReload is how often a running platform checks its users file.
const authReload = 5 * time.Second

// authFlag adds the -auth flag of the commands that run the platform.
func authFlag(fs *flag.FlagSet) *string {
	return fs.String("auth", envOr("HAP_AUTH", ""), "users `file` mapping bearer tokens to users and roles (default <data>/auth.json, created with one user per role on first start; \"off\": no authentication, every request is anonymous with every role; env HAP_AUTH)")
}

// loadAuth resolves the -auth flag: nil users for "off"; otherwise the users
// file (spec, or dataDir/auth.json when spec is empty), created on first use
// with auth.DefaultUsers and their tokens written to tokens.txt beside it.
// It returns the path of the tokens file when one exists, and whether the
// users were created now (their tokens were printed, once). Until ctx ends,
// the users follow changes of the file (auth.Watch): hap auth add and
// remove take effect without a restart.
func loadAuth(ctx context.Context, spec, dataDir string, stdout io.Writer, log *slog.Logger) (users *auth.Users, tokensPath string, created bool, err error) {
	if spec == "off" {
		return nil, "", false, nil
	}
	path := spec
	if path == "" {
		path = filepath.Join(dataDir, "auth.json")
	} else if _, err := os.Stat(path); err != nil {
		// Only the default file is created: a mistyped -auth must not start
		// the platform with fresh users nobody knows about.
		return nil, "", false, fmt.Errorf("-auth %s: %w (create it with `hap auth add -file %s ...`, or omit -auth for <data>/auth.json)", path, err, path)
	}
	tokensPath = filepath.Join(filepath.Dir(path), "tokens.txt")
	users, issued, err := auth.Bootstrap(path, tokensPath)
	if err != nil {
		return nil, "", false, err
	}
	go auth.Watch(ctx, path, users, authReload, log)
	if len(issued) == 0 {
		if _, err := os.Stat(tokensPath); err != nil {
			tokensPath = ""
		}
		return users, tokensPath, false, nil
	}
	fmt.Fprintf(stdout, "Created the users file %s with one user per role; their tokens (shown once here) are in %s:\n", path, tokensPath)
	for _, is := range issued {
		fmt.Fprintf(stdout, "  %-12s %-22s %s\n", is.User.ID, roles(is.User.Roles), is.Token)
	}
	fmt.Fprintln(stdout)
	return users, tokensPath, true, nil
}

func roles(rs []auth.Role) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, ",")
}

// runAuth implements "hap auth add|hash|token".
func runAuth(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	usage := `usage: hap auth add -file FILE -id ID [-name NAME] -roles ROLE[,ROLE]   add a user; prints its new token once
       hap auth remove -file FILE -id ID                                  remove a user: its token stops working (a running platform reloads the file)
       hap auth hash TOKEN                                                the token_sha256 of a token, for the users file
       hap auth check -file FILE                                          validate a users file

roles: viewer (dashboard, metrics), radiologist (review queue, feedback), approver (rollout decisions),
       ingest (machines: uploads, predictions, DICOMweb, /v2 and /invocations), admin (everything)`
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return fmt.Errorf("%w: want a subcommand", errUsage)
	}
	sub := args[0]
	fs := flag.NewFlagSet("auth "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	switch sub {
	case "hash":
		if err := parseFlags(fs, args[1:], true); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return fmt.Errorf("%w: hap auth hash TOKEN", errUsage)
		}
		fmt.Fprintln(stdout, auth.HashToken(fs.Arg(0)))
		return nil
	case "check":
		file := fs.String("file", "", "users `file`")
		if err := parseFlags(fs, args[1:], false); err != nil {
			return err
		}
		u, err := auth.Load(*file)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %d users: %s\n", *file, len(u.IDs()), strings.Join(u.IDs(), ", "))
		return nil
	case "remove":
		file := fs.String("file", "", "users `file`")
		id := fs.String("id", "", "user `id` to remove")
		if err := parseFlags(fs, args[1:], false); err != nil {
			return err
		}
		if *file == "" || *id == "" {
			return fmt.Errorf("%w: -file and -id are required", errUsage)
		}
		f, err := auth.ReadFile(*file)
		if err != nil {
			return err
		}
		kept := f.Users[:0]
		for _, u := range f.Users {
			if u.ID != *id {
				kept = append(kept, u)
			}
		}
		if len(kept) == len(f.Users) {
			return fmt.Errorf("%w: no user %q in %s", errUsage, *id, *file)
		}
		f.Users = kept
		if err := auth.Save(*file, f); err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		fmt.Fprintf(stdout, "removed %s from %s; its token no longer works once the platform reloads the file (within %s)\n", *id, *file, authReload)
		return nil
	case "add":
		file := fs.String("file", "", "users `file` (created if missing)")
		id := fs.String("id", "", "user `id`: what feedback and approvals are recorded under")
		name := fs.String("name", "", "display `name`")
		rs := fs.String("roles", "", "comma-separated `roles`")
		if err := parseFlags(fs, args[1:], false); err != nil {
			return err
		}
		if *file == "" {
			return fmt.Errorf("%w: -file is required", errUsage)
		}
		f, err := auth.ReadFile(*file)
		if err != nil && !errors.Is(err, os.ErrNotExist) { // a missing file is created
			return err
		}
		u := auth.User{ID: strings.TrimSpace(*id), Name: *name}
		for r := range strings.SplitSeq(*rs, ",") {
			if r = strings.TrimSpace(r); r != "" {
				u.Roles = append(u.Roles, auth.Role(r))
			}
		}
		token := auth.NewToken()
		u.TokenSHA256 = auth.HashToken(token)
		f.Users = append(f.Users, u)
		if _, err := auth.New(f.Users); err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		if err := auth.Save(*file, f); err != nil {
			return fmt.Errorf("write %s: %w", *file, err)
		}
		fmt.Fprintf(stdout, "added %s (%s) to %s (a running platform picks it up within %s); token (shown once, give it to the user):\n%s\n", u.ID, roles(u.Roles), *file, authReload, token)
		return nil
	}
	fmt.Fprintln(stderr, usage)
	return fmt.Errorf("%w: unknown subcommand %q", errUsage, sub)
}
