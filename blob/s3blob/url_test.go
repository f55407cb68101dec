package s3blob_test

import (
	"strings"
	"testing"
	"time"

	"github.com/healthcare-ai/platform/blob"
	"github.com/healthcare-ai/platform/blob/s3blob"
)

func TestParseURL(t *testing.T) {
	good := []struct {
		url  string
		want s3blob.Config
	}{
		{"s3://hap-images", s3blob.Config{Bucket: "hap-images"}},
		{"s3://hap-images/", s3blob.Config{Bucket: "hap-images"}},
		{"s3://hap-images/hap/dev", s3blob.Config{Bucket: "hap-images", Prefix: "hap/dev"}},
		{"s3://hap-images/hap/dev/", s3blob.Config{Bucket: "hap-images", Prefix: "hap/dev"}},
		{
			"s3://hap.images-1/hap/prod?endpoint=http://127.0.0.1:9000&path_style=true&region=eu-west-1&create_bucket=1&max_attempts=4&max_backoff=750ms",
			s3blob.Config{
				Bucket: "hap.images-1", Prefix: "hap/prod", Endpoint: "http://127.0.0.1:9000", UsePathStyle: true,
				Region: "eu-west-1", CreateBucket: true, MaxAttempts: 4, MaxBackoff: 750 * time.Millisecond,
			},
		},
		{"s3://b12/x?endpoint=https%3A%2F%2Fs3.example.org&path_style=false", s3blob.Config{Bucket: "b12", Prefix: "x", Endpoint: "https://s3.example.org"}},
	}
	for _, tc := range good {
		t.Run(tc.url, func(t *testing.T) {
			got, err := s3blob.ParseURL(tc.url)
			if err != nil {
				t.Fatalf("ParseURL: %v", err)
			}
			if got != tc.want {
				t.Fatalf("ParseURL =\n %#v\nwant\n %#v", got, tc.want)
			}
			// URL writes what ParseURL reads back.
			again, err := s3blob.ParseURL(got.URL())
			if err != nil || again != got {
				t.Fatalf("ParseURL(%q) = %#v, %v; want %#v", got.URL(), again, err, got)
			}
		})
	}

	bad := []struct{ url, wantErr string }{
		{"", "must start with s3://"},
		{"/var/hap/blob", "must start with s3://"},
		{"S3://bucket", "must start with s3://"},
		{"s3://", "bucket is missing"},
		{"s3:///hap/dev", "bucket is missing"},
		{"s3://Hap-Images/x", "only lowercase letters"},
		{"s3://ab", "3 to 63 characters"},
		{"s3://" + strings.Repeat("b", 64), "3 to 63 characters"},
		{"s3://-bucket", "start and end with"},
		{"s3://bucket:9000/x", "not ':'"},
		{"s3://key:secret@bucket/x", "credentials do not belong in the URL"},
		{"s3://bucket//hap", "must be empty or a valid blob key"},
		{"s3://bucket/hap//dev", "must be empty or a valid blob key"},
		{"s3://bucket/../etc", "must be empty or a valid blob key"},
		{"s3://bucket/.hidden", "must be empty or a valid blob key"},
		{"s3://bucket//", "empty segment"},
		{"s3://bucket/x#frag", "unexpected fragment"},
		{"s3://bucket/x?endpoint=127.0.0.1:9000", "scheme must be http or https"},
		{"s3://bucket/x?endpoint=ftp://h", "scheme must be http or https"},
		{"s3://bucket/x?endpoint=http://", "host is missing"},
		{"s3://bucket/x?endpoint=http://h:9000/base", "without path or query"},
		{"s3://bucket/x?path_style=yes", `path_style="yes": must be true or false`},
		{"s3://bucket/x?create_bucket=", `create_bucket="": must be true or false`},
		{"s3://bucket/x?max_attempts=0", "at least 1"},
		{"s3://bucket/x?max_attempts=two", "at least 1"},
		{"s3://bucket/x?max_backoff=5", "positive duration"},
		{"s3://bucket/x?max_backoff=-1s", "positive duration"},
		{"s3://bucket/x?region=", "region is empty"},
		{"s3://bucket/x?region=a&region=b", `"region" given 2 times`},
		{"s3://bucket/x?pathstyle=true", `unknown parameter "pathstyle" (known: endpoint, path_style, region`},
		{"s3://bucket/x?%zz", "query"},
	}
	for _, tc := range bad {
		t.Run("bad/"+tc.url, func(t *testing.T) {
			_, err := s3blob.ParseURL(tc.url)
			if err == nil {
				t.Fatalf("ParseURL(%q) succeeded, want an error containing %q", tc.url, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("ParseURL(%q) error = %q, want it to contain %q", tc.url, err, tc.wantErr)
			}
			if tc.url != "" && !strings.Contains(err.Error(), tc.url) {
				t.Errorf("error %q does not quote the URL", err)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	base := s3blob.DefaultConfig()
	base.Bucket = "hap-images"
	if err := base.Validate(); err != nil {
		t.Fatalf("DefaultConfig with a bucket: %v", err)
	}
	cases := []struct {
		name    string
		edit    func(*s3blob.Config)
		wantErr string
	}{
		{"no bucket", func(c *s3blob.Config) { c.Bucket = "" }, "s3 bucket: required"},
		{"absolute prefix", func(c *s3blob.Config) { c.Prefix = "/hap/dev" }, "s3 prefix \"/hap/dev\""},
		{"key without secret", func(c *s3blob.Config) { c.AccessKeyID = "AKIA" }, "set both access key id and secret"},
		{"secret without key", func(c *s3blob.Config) { c.SecretAccessKey = "s" }, "set both access key id and secret"},
		{"token alone", func(c *s3blob.Config) { c.SessionToken = "t" }, "session token given without"},
		{"negative attempts", func(c *s3blob.Config) { c.MaxAttempts = -1 }, "max attempts -1"},
		{"negative backoff", func(c *s3blob.Config) { c.MaxBackoff = -time.Second }, "max backoff -1s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			tc.edit(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
	// The trailing '/' of a prefix is optional.
	c := base
	c.Prefix = "hap/dev/"
	if err := c.Validate(); err != nil {
		t.Errorf("prefix with trailing '/': %v", err)
	}
	// Printing a Config never shows the secret.
	c.AccessKeyID, c.SecretAccessKey = "AKIAEXAMPLE", "very-secret"
	if s := c.String(); strings.Contains(s, "very-secret") || strings.Contains(s, "AKIAEXAMPLE") {
		t.Errorf("Config.String() = %q shows credentials", s)
	}
}

func TestOpenChoosesByLocation(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	for _, target := range []string{dir, "file://" + dir} {
		st, err := s3blob.Open(ctx, target)
		if err != nil {
			t.Fatalf("Open(%q): %v", target, err)
		}
		if _, ok := st.(*blob.Dir); !ok {
			t.Errorf("Open(%q) = %T, want *blob.Dir", target, st)
		}
	}
	for _, target := range []string{"", "ftp://host/x", "file://host/x", "s3://NoSuchBucket"} {
		st, err := s3blob.Open(ctx, target)
		if err == nil || st != nil {
			t.Errorf("Open(%q) = %v, %v; want nil and an error", target, st, err)
		}
	}
}
