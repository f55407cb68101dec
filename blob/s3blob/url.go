package s3blob

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/healthcare-ai/platform/blob"
)

// URL parameters understood by ParseURL, in the order URL writes them.
const (
	paramEndpoint     = "endpoint"
	paramPathStyle    = "path_style"
	paramRegion       = "region"
	paramCreateBucket = "create_bucket"
	paramMaxAttempts  = "max_attempts"
	paramMaxBackoff   = "max_backoff"
)

var knownParams = []string{paramEndpoint, paramPathStyle, paramRegion, paramCreateBucket, paramMaxAttempts, paramMaxBackoff}

// Usage describes the values Open accepts, for a flag's help text.
const Usage = "a folder, or s3://bucket[/prefix][?endpoint=http://host:port&path_style=true&region=R&create_bucket=true&max_attempts=N&max_backoff=5s] (credentials from the AWS environment)"

// IsURL reports whether target names an S3 location ("s3://...").
func IsURL(target string) bool { return strings.HasPrefix(target, "s3://") }

// ParseURL parses an S3 location:
//
//	s3://BUCKET[/PREFIX][?PARAM=VALUE&...]
//
// PREFIX becomes Config.Prefix ("s3://hap-images/hap/dev" uses bucket
// "hap-images" and prefix "hap/dev"). Parameters:
//
//	endpoint=URL       Config.Endpoint, e.g. http://127.0.0.1:9000 (default AWS S3)
//	path_style=BOOL    Config.UsePathStyle (default false)
//	region=NAME        Config.Region (default from the AWS configuration, else us-east-1)
//	create_bucket=BOOL Config.CreateBucket (default false)
//	max_attempts=N     Config.MaxAttempts (default 8)
//	max_backoff=DUR    Config.MaxBackoff, a Go duration such as 2s (default 5s)
//
// Credentials never go in the URL: they come from the standard AWS chain
// (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, a role). The
// returned Config has passed Validate.
func ParseURL(raw string) (Config, error) {
	fail := func(format string, args ...any) (Config, error) {
		return Config{}, fmt.Errorf("s3 URL %q: %s", raw, fmt.Sprintf(format, args...))
	}
	if !IsURL(raw) {
		return fail("must start with s3://")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fail("%v", err)
	}
	if u.User != nil {
		return fail("credentials do not belong in the URL; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)")
	}
	if u.Fragment != "" {
		return fail("unexpected fragment #%s", u.Fragment)
	}
	if u.Host == "" {
		return fail("bucket is missing (s3://BUCKET/PREFIX)")
	}
	cfg := Config{Bucket: u.Host, Prefix: strings.TrimSuffix(strings.TrimPrefix(u.Path, "/"), "/")}
	if cfg.Prefix == "" && u.Path != "" && u.Path != "/" {
		return fail("prefix %q: empty segment", u.Path)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return fail("query: %v", err)
	}
	for name, values := range q {
		if len(values) != 1 {
			return fail("parameter %q given %d times", name, len(values))
		}
		v := values[0]
		switch name {
		case paramEndpoint:
			cfg.Endpoint = v
		case paramRegion:
			if v == "" {
				return fail("region is empty")
			}
			cfg.Region = v
		case paramPathStyle, paramCreateBucket:
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fail("%s=%q: must be true or false", name, v)
			}
			if name == paramPathStyle {
				cfg.UsePathStyle = b
			} else {
				cfg.CreateBucket = b
			}
		case paramMaxAttempts:
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return fail("%s=%q: must be a whole number of at least 1", name, v)
			}
			cfg.MaxAttempts = n
		case paramMaxBackoff:
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return fail("%s=%q: must be a positive duration such as 500ms or 5s", name, v)
			}
			cfg.MaxBackoff = d
		default:
			return fail("unknown parameter %q (known: %s)", name, strings.Join(knownParams, ", "))
		}
	}
	if err := cfg.Validate(); err != nil {
		return fail("%v", err)
	}
	return cfg, nil
}

// URL returns the s3:// form of c that ParseURL reads back, without
// credentials; zero fields are left out.
func (c Config) URL() string {
	u := url.URL{Scheme: "s3", Host: c.Bucket}
	if p := strings.TrimSuffix(c.Prefix, "/"); p != "" {
		u.Path = "/" + p
	}
	var q []string // built by hand to keep the documented order
	add := func(k, v string) { q = append(q, k+"="+url.QueryEscape(v)) }
	if c.Endpoint != "" {
		add(paramEndpoint, c.Endpoint)
	}
	if c.UsePathStyle {
		add(paramPathStyle, "true")
	}
	if c.Region != "" {
		add(paramRegion, c.Region)
	}
	if c.CreateBucket {
		add(paramCreateBucket, "true")
	}
	if c.MaxAttempts != 0 {
		add(paramMaxAttempts, strconv.Itoa(c.MaxAttempts))
	}
	if c.MaxBackoff != 0 {
		add(paramMaxBackoff, c.MaxBackoff.String())
	}
	u.RawQuery = strings.Join(q, "&")
	return u.String()
}

// String returns c.URL(), so printing a Config never shows its secret key.
func (c Config) String() string { return c.URL() }

// Open returns the Store that target names, so that one flag can choose the
// storage: an s3:// URL (see ParseURL) opens an S3 Store; a file:// URL or
// a plain path opens a blob.Dir (created if missing). Any other scheme is an
// error.
func Open(ctx context.Context, target string) (blob.Store, error) {
	switch {
	case target == "":
		return nil, errors.New("open blob store: location is empty (" + Usage + ")")
	case IsURL(target):
		cfg, err := ParseURL(target)
		if err != nil {
			return nil, fmt.Errorf("open blob store: %w", err)
		}
		s, err := New(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return s, nil
	case strings.HasPrefix(target, "file://"):
		u, err := url.Parse(target)
		if err != nil || (u.Host != "" && u.Host != "localhost") || u.Path == "" {
			return nil, fmt.Errorf("open blob store: %q: want file:///absolute/path", target)
		}
		return openDir(u.Path)
	case strings.Contains(target, "://"):
		return nil, fmt.Errorf("open blob store: %q: unknown scheme (want %s)", target, Usage)
	default:
		return openDir(target)
	}
}

// openDir avoids returning a nil *blob.Dir inside a non-nil blob.Store.
func openDir(root string) (blob.Store, error) {
	d, err := blob.NewDir(root)
	if err != nil {
		return nil, err
	}
	return d, nil
}
