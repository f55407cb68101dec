// Package s3blob is a blob.Store in an S3 bucket (AWS S3, MinIO or any
// S3-compatible server), built on aws-sdk-go-v2.
//
// Key "bronze/a.jpeg" of a Store with Prefix "hap/dev" is the object
// "hap/dev/bronze/a.jpeg" in the bucket, so environments (dev, pilot, prod)
// can share one bucket. The Store satisfies the blob.Store contract and runs
// the blobtest conformance suite against a real MinIO server (package s3test).
//
// Integrity: Put sends Content-MD5 and an x-amz-checksum-sha256 header, so the
// server rejects an upload whose bytes changed on the way (and SigV4 signs the
// payload hash as well). The SHA-256 is stored with the object; Get asks for
// it and the SDK verifies the bytes it read against it, failing the Get on a
// mismatch. Servers that ignore the checksum header still check Content-MD5.
//
// Retries: every call uses the SDK's standard retryer with Config.MaxAttempts
// and Config.MaxBackoff (exponential backoff with full jitter from a 50 ms
// base; throttling errors start at 1 s). Connection errors, 5xx responses and
// throttling are retried; other 4xx errors are not. The standard retryer also
// keeps a per-Store retry quota (500 tokens, 14 per retry, refunded by
// successful retries): during a long outage it runs out and calls then fail
// after their first attempt instead of piling up retries, until successes
// refill it. Every call honours its context, including while it waits to
// retry.
//
// Configuration: a Config struct for code, or an s3:// URL for a flag
// (ParseURL, e.g. "s3://hap-images/hap/dev?endpoint=http://127.0.0.1:9000&path_style=true").
// Open takes either a folder or such a URL, so one -blob flag chooses between
// a blob.Dir and S3. Credentials are static in Config or come from the
// standard AWS chain, never from a URL.
//
// Errors name the object's URI (s3://bucket/prefix/key). A missing key wraps
// blob.ErrNotFound; a missing bucket wraps ErrBucketNotFound instead, so an
// outage or a misconfiguration never looks like an absent object (one
// exception on AWS S3, not MinIO: see Stat).
//
// A Store holds an HTTP client with idle connections but nothing that must be
// closed, as the blob.Store contract requires.
package s3blob

import (
	"bytes"
	"context"
	"crypto/md5" // Content-MD5 is the S3 integrity header, not a security control
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/healthcare-ai/platform/blob"
)

// DefaultRegion is used when neither Config.Region nor the AWS configuration
// (AWS_REGION, ~/.aws/config) names a region.
const DefaultRegion = "us-east-1"

// Default retry budget: at most 8 attempts, so up to 7 waits of at most
// 0.05, 0.1, 0.2, 0.4, 0.8, 1.6 and 3.2 s (each a random part of that):
// a call gives up after about 3 s of waiting on average, 6.4 s at most.
const (
	DefaultMaxAttempts = 8
	DefaultMaxBackoff  = 5 * time.Second
)

// Config says which bucket a Store uses and how to reach it.
type Config struct {
	// Bucket is the bucket name (required), e.g. "hap-images".
	Bucket string
	// Prefix is prepended, with a '/', to every key; it must be empty or a
	// valid blob key ("hap/dev"). A trailing '/' is ignored.
	Prefix string
	// Endpoint is the base URL of an S3-compatible server, e.g.
	// "http://127.0.0.1:9000". Empty means AWS S3 (or AWS_ENDPOINT_URL_S3).
	Endpoint string
	// Region defaults to the AWS configuration's region, else DefaultRegion.
	Region string
	// UsePathStyle addresses objects as <endpoint>/<bucket>/<key> instead of
	// <bucket>.<endpoint host>/<key>. Most S3-compatible servers need it.
	UsePathStyle bool
	// AccessKeyID and SecretAccessKey (and optionally SessionToken) are
	// static credentials. When both are empty the standard AWS credential
	// chain is used (environment, shared files, SSO, container or EC2 role).
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	// CreateBucket creates the bucket when it does not exist. Otherwise New
	// fails for a missing bucket.
	CreateBucket bool
	// MaxAttempts bounds the attempts of each call, the first one included
	// (default DefaultMaxAttempts; 1 disables retries).
	MaxAttempts int
	// MaxBackoff caps one wait between attempts (default DefaultMaxBackoff).
	MaxBackoff time.Duration
	// HTTPClient sends the requests; nil means the SDK's default client
	// (which honours AWS_CA_BUNDLE; a client given here owns its TLS
	// settings). Tests use it to inject faults.
	HTTPClient s3.HTTPClient
}

// DefaultConfig returns a Config with the default retry budget; the caller
// sets at least Bucket. Region is left empty, to be taken from the AWS
// configuration (else DefaultRegion) by New.
func DefaultConfig() Config {
	return Config{MaxAttempts: DefaultMaxAttempts, MaxBackoff: DefaultMaxBackoff}
}

// Validate reports the first field that cannot be used, or nil. Zero retry
// settings are valid (New fills the defaults); an empty Region is valid (New
// takes it from the AWS configuration).
func (c Config) Validate() error {
	if err := validBucket(c.Bucket); err != nil {
		return err
	}
	if p := strings.TrimSuffix(c.Prefix, "/"); p != "" {
		if err := blob.ValidKey(p); err != nil {
			return fmt.Errorf("s3 prefix %q: must be empty or a valid blob key: %w", c.Prefix, err)
		}
	}
	if c.Endpoint != "" {
		if err := validEndpoint(c.Endpoint); err != nil {
			return err
		}
	}
	if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
		return errors.New("s3 credentials: set both access key id and secret access key, or neither (to use the AWS credential chain)")
	}
	if c.SessionToken != "" && c.AccessKeyID == "" {
		return errors.New("s3 credentials: session token given without access key id and secret access key")
	}
	if c.MaxAttempts < 0 {
		return fmt.Errorf("s3 max attempts %d: must be at least 1 (0 for the default %d)", c.MaxAttempts, DefaultMaxAttempts)
	}
	if c.MaxBackoff < 0 {
		return fmt.Errorf("s3 max backoff %s: must not be negative", c.MaxBackoff)
	}
	return nil
}

// validBucket applies the S3 bucket naming rules that matter in practice.
func validBucket(b string) error {
	if b == "" {
		return errors.New("s3 bucket: required")
	}
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("s3 bucket %q: must be 3 to 63 characters long", b)
	}
	for _, r := range b {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return fmt.Errorf("s3 bucket %q: only lowercase letters, digits, '-' and '.' are allowed, not %q", b, r)
		}
	}
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
	if !alnum(b[0]) || !alnum(b[len(b)-1]) {
		return fmt.Errorf("s3 bucket %q: must start and end with a lowercase letter or digit", b)
	}
	if strings.Contains(b, "..") {
		return fmt.Errorf("s3 bucket %q: must not contain \"..\"", b)
	}
	return nil
}

func validEndpoint(e string) error {
	if !strings.Contains(e, "://") {
		return fmt.Errorf("s3 endpoint %q: scheme must be http or https (e.g. http://127.0.0.1:9000)", e)
	}
	u, err := url.Parse(e)
	if err != nil {
		return fmt.Errorf("s3 endpoint %q: %w", e, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("s3 endpoint %q: scheme must be http or https", e)
	case u.Host == "":
		return fmt.Errorf("s3 endpoint %q: host is missing", e)
	case u.User != nil:
		return fmt.Errorf("s3 endpoint %q: credentials do not belong in the endpoint", e)
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "":
		return fmt.Errorf("s3 endpoint %q: must be scheme://host[:port] without path or query", e)
	}
	return nil
}

// Store is a blob.Store in one bucket under one key prefix. It is safe for
// concurrent use.
type Store struct {
	client *s3.Client
	bucket string
	prefix string // "" or ending in "/"
	where  string // the endpoint or AWS region, for error messages
}

var _ blob.Store = (*Store)(nil)

// New returns a Store for cfg. It checks that the bucket exists and is
// reachable with the credentials (HeadBucket), creating it when
// cfg.CreateBucket is set, so a wrong bucket name, endpoint or credentials
// fail here rather than at the first Put.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("open s3 store: %w", err)
	}
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithLogger(logging.Nop{}),
		awsconfig.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = cfg.MaxAttempts
				o.MaxBackoff = cfg.MaxBackoff
			})
		}),
	}
	if cfg.Region != "" {
		opts = append(opts, awsconfig.WithRegion(cfg.Region))
	}
	if cfg.AccessKeyID != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken)))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("open s3 store: load AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = DefaultRegion
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(strings.TrimSuffix(cfg.Endpoint, "/"))
		}
		o.UsePathStyle = cfg.UsePathStyle
		if cfg.HTTPClient != nil {
			// Set here, not in LoadDefaultConfig, which fails for a plain
			// *http.Client when AWS_CA_BUNDLE is set.
			o.HTTPClient = cfg.HTTPClient
		}
		// Put sets its own checksums as headers; no aws-chunked trailers,
		// which several S3-compatible servers do not support.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenSupported
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	s := &Store{client: client, bucket: cfg.Bucket, where: cfg.Endpoint}
	if p := strings.TrimSuffix(cfg.Prefix, "/"); p != "" {
		s.prefix = p + "/"
	}
	if s.where == "" {
		s.where = "AWS S3 " + awsCfg.Region
	}
	if err := s.checkBucket(ctx, cfg.CreateBucket, awsCfg.Region); err != nil {
		return nil, fmt.Errorf("open s3 store: %w", err)
	}
	return s, nil
}

// checkBucket verifies that the bucket exists and answers, creating it if
// create is set and it is missing.
func (s *Store) checkBucket(ctx context.Context, create bool, region string) error {
	_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.bucket)})
	if err == nil {
		return nil
	}
	if httpStatus(err) != http.StatusNotFound || !create {
		return s.bucketError(err)
	}
	in := &s3.CreateBucketInput{Bucket: aws.String(s.bucket)}
	if region != DefaultRegion { // us-east-1 must not be sent as a location constraint
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{
			LocationConstraint: types.BucketLocationConstraint(region),
		}
	}
	_, err = s.client.CreateBucket(ctx, in)
	var owned *types.BucketAlreadyOwnedByYou
	switch {
	case err == nil, errors.As(err, &owned), errorCode(err) == "BucketAlreadyOwnedByYou": // created concurrently by us
		return nil
	case errorCode(err) == "BucketAlreadyExists":
		return fmt.Errorf("create s3 bucket %q at %s: the name is taken by another account: %w", s.bucket, s.where, err)
	default:
		return fmt.Errorf("create s3 bucket %q at %s: %w", s.bucket, s.where, err)
	}
}

// ErrBucketNotFound is wrapped by errors for a bucket that does not exist.
var ErrBucketNotFound = errors.New("bucket does not exist")

// bucketError explains an error about the bucket itself; other errors are
// returned unchanged.
func (s *Store) bucketError(err error) error {
	switch {
	case errorCode(err) == "NoSuchBucket" || httpStatus(err) == http.StatusNotFound && isBucketCall(err):
		return fmt.Errorf("s3 bucket %q at %s: %w (create it, or set CreateBucket / create_bucket=true): %w",
			s.bucket, s.where, ErrBucketNotFound, err)
	case httpStatus(err) == http.StatusForbidden && isBucketCall(err):
		return fmt.Errorf("s3 bucket %q at %s: access denied (check the credentials and the bucket policy): %w",
			s.bucket, s.where, err)
	case httpStatus(err) == http.StatusMovedPermanently:
		return fmt.Errorf("s3 bucket %q at %s: the bucket is in another region (set Region): %w", s.bucket, s.where, err)
	}
	return err
}

func isBucketCall(err error) bool {
	var op *smithy.OperationError
	return errors.As(err, &op) && (op.OperationName == "HeadBucket" || op.OperationName == "CreateBucket")
}

// errorCode returns the S3 error code of err, or "". HEAD responses have no
// body, so the SDK only knows their status; MinIO also sends the code in a
// header, which is used when present.
func errorCode(err error) string {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		if c := re.Response.Header.Get("X-Minio-Error-Code"); c != "" {
			return c
		}
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// notFound reports whether err means that the object does not exist.
func notFound(err error) bool {
	switch errorCode(err) {
	case "NoSuchKey", "NotFound":
		return true
	}
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	return errors.As(err, &nsk) || errors.As(err, &nf)
}

// Bucket returns the bucket name.
func (s *Store) Bucket() string { return s.bucket }

// Prefix returns the key prefix without a trailing '/', or "".
func (s *Store) Prefix() string { return strings.TrimSuffix(s.prefix, "/") }

// objectKey returns the bucket key of a valid store key.
func (s *Store) objectKey(key string) (string, error) {
	if err := blob.ValidKey(key); err != nil {
		return "", err
	}
	k := s.prefix + key
	if len(k) > blob.MaxKeyLen {
		return "", fmt.Errorf("%w %q: longer than %d bytes with the prefix %q", blob.ErrInvalidKey, key, blob.MaxKeyLen, s.prefix)
	}
	return k, nil
}

// Put implements blob.Store. S3 makes a single PUT atomic: readers see the
// old object or the new one.
func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	k, err := s.objectKey(key)
	if err != nil {
		return fmt.Errorf("put blob: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put blob %s: %w", s.URI(key), err)
	}
	md := md5.Sum(data)
	sum := sha256.Sum256(data)
	_, err = s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:            aws.String(s.bucket),
		Key:               aws.String(k),
		Body:              bytes.NewReader(data),
		ContentLength:     aws.Int64(int64(len(data))),
		ContentMD5:        aws.String(base64.StdEncoding.EncodeToString(md[:])),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
		ChecksumSHA256:    aws.String(base64.StdEncoding.EncodeToString(sum[:])),
	})
	if err != nil {
		return fmt.Errorf("put blob %s: %w", s.URI(key), s.bucketError(err))
	}
	return nil
}

// Get implements blob.Store. When the server returns the object's stored
// checksum, the bytes are verified against it.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	k, err := s.objectKey(key)
	if err != nil {
		return nil, fmt.Errorf("get blob: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("get blob %s: %w", s.URI(key), err)
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(k)})
	switch {
	case err == nil:
	case notFound(err):
		return nil, fmt.Errorf("get blob %s: %w", s.URI(key), blob.ErrNotFound)
	default:
		return nil, fmt.Errorf("get blob %s: %w", s.URI(key), s.bucketError(err))
	}
	defer out.Body.Close()
	var buf bytes.Buffer
	if n := aws.ToInt64(out.ContentLength); n > 0 && n <= 1<<30 {
		buf.Grow(int(n))
	}
	if _, err := io.Copy(&buf, out.Body); err != nil {
		return nil, fmt.Errorf("get blob %s: read: %w", s.URI(key), err)
	}
	if n := out.ContentLength; n != nil && *n != int64(buf.Len()) {
		return nil, fmt.Errorf("get blob %s: read %d bytes, want %d", s.URI(key), buf.Len(), *n)
	}
	return buf.Bytes(), nil
}

// Stat implements blob.Store.
//
// HeadObject answers 404 without a body both for a missing key and for a
// missing bucket. MinIO names the difference in a header, which Stat uses; on
// AWS S3 a bucket deleted after New looks like a missing key here (Get tells
// them apart).
func (s *Store) Stat(ctx context.Context, key string) (blob.Info, error) {
	k, err := s.objectKey(key)
	if err != nil {
		return blob.Info{}, fmt.Errorf("stat blob: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return blob.Info{}, fmt.Errorf("stat blob %s: %w", s.URI(key), err)
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(k)})
	switch {
	case err == nil:
		return blob.Info{Key: key, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified)}, nil
	case errorCode(err) == "NoSuchBucket":
		return blob.Info{}, fmt.Errorf("stat blob %s: %w", s.URI(key), s.bucketError(err))
	case notFound(err):
		return blob.Info{}, fmt.Errorf("stat blob %s: %w", s.URI(key), blob.ErrNotFound)
	default:
		return blob.Info{}, fmt.Errorf("stat blob %s: %w", s.URI(key), s.bucketError(err))
	}
}

// Exists implements blob.Store.
func (s *Store) Exists(ctx context.Context, key string) (bool, error) {
	_, err := s.Stat(ctx, key)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, blob.ErrNotFound):
		return false, nil
	default:
		return false, err
	}
}

// List implements blob.Store, following ListObjectsV2 pages. Objects under the
// Store's prefix whose remaining key is not a valid blob key (such as the
// "folder/" markers some consoles create) are left out, so every listed key
// can be passed to Get.
func (s *Store) List(ctx context.Context, prefix string) ([]blob.Info, error) {
	if err := blob.ValidPrefix(prefix); err != nil {
		return nil, fmt.Errorf("list blobs: %w", err)
	}
	p := s.prefix + prefix
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket),
		Prefix: aws.String(p),
	})
	var out []blob.Info
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list blobs %q in s3://%s/%s: %w", prefix, s.bucket, s.prefix, s.bucketError(err))
		}
		for _, o := range page.Contents {
			key, ok := strings.CutPrefix(aws.ToString(o.Key), s.prefix)
			if !ok || blob.ValidKey(key) != nil {
				continue
			}
			out = append(out, blob.Info{Key: key, Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)})
		}
	}
	// Already in order from S3; sorting keeps the contract with servers
	// that order differently.
	slices.SortFunc(out, func(a, b blob.Info) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// Delete implements blob.Store: it removes the object at key. Deleting a
// missing key succeeds, as in S3, so Delete is idempotent.
func (s *Store) Delete(ctx context.Context, key string) error {
	k, err := s.objectKey(key)
	if err != nil {
		return fmt.Errorf("delete blob: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete blob %s: %w", s.URI(key), err)
	}
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(k)}); err != nil {
		return fmt.Errorf("delete blob %s: %w", s.URI(key), s.bucketError(err))
	}
	return nil
}

// URI implements blob.Store: "s3://<bucket>/<prefix>/<key>", the form the
// AWS CLI and most tools accept. It does not check that the object exists.
func (s *Store) URI(key string) string {
	return "s3://" + s.bucket + "/" + s.prefix + key
}
