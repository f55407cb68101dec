// Package ingestor validates chest X-ray images, stores their bytes in the
// blob store (the bronze volume) and announces them on NATS.
//
// Images (JPEG, PNG or DICOM) arrive four ways, all through IngestBytes:
//   - a folder (IngestDir): the Kaggle layout root/{train,val,test}/{NORMAL,
//     PNEUMONIA}/*.jpeg, optionally under root/chest_xray/, or a flat folder;
//     the label and split are taken from the path; .dcm files are read too;
//   - HTTP (Handler): POST /v1/images with a multipart field "image" or a raw
//     image/jpeg, image/png or application/dicom body;
//   - DICOMweb STOW-RS (STOWHandler): POST /dicom-web/studies[/{study}] with
//     multipart/related; type="application/dicom", as a PACS sends it;
//   - NATS (Run): proto.ImageSubmitted events on proto.SubjectImageSubmit
//     (durable consumer proto.ConsumerIngestor on proto.StreamXRay) that point
//     at an object in the proto.BucketInbox object store.
//
// An accepted image is written to the blob store under ImageKey (content
// addressed, so writing it again is harmless) and then announced with a
// proto.ImageIngested event on proto.SubjectImageIngested. A rejected input
// (empty, too large, not JPEG, PNG or DICOM, undecodable or truncated, too
// small, invalid metadata, an unsupported DICOM transfer syntax or modality)
// leaves one proto.ImageRejected event on proto.SubjectImageRejected with a
// stable reason code and a reason naming the file; nothing is dropped silently
// and no input stops the service. Raw patient ids never leave the ingestor:
// events carry PatientKey.
//
// DICOM files (xray/dicom: modality CR or DX; implicit or explicit VR little
// endian, or JPEG baseline) are de-identified on the way in: the bronze volume
// holds the decoded image as a lossless 8-bit PNG (what xray/preprocess reads),
// never the DICOM file, and the ImageIngested event carries only the kept
// attributes (modality, view position, manufacturer, pixel spacing, the study,
// series and SOP instance UIDs, and the salted hash of the PatientID as
// PatientKey). Its ImageID is the SHA-256 of the stored PNG.
//
// Delivery: for a NATS submission the inbox object is deleted only after the
// ingested or rejected event is published, and the message is acknowledged
// after that (see handleSubmit for redelivery). Events carry a Nats-Msg-Id
// derived from the request id, so retries publish no duplicates.
package ingestor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/healthcare-ai/platform/auth"
	"github.com/healthcare-ai/platform/blob"
	"github.com/healthcare-ai/platform/bus"
	"github.com/healthcare-ai/platform/proto"
)

// Log attribute keys.
const (
	attrRequestID = "request_id"
	attrImageID   = "image_id"
	attrFile      = "file"
	attrSource    = "source"
	attrCode      = "reason_code"
	attrTraceID   = "trace_id"
)

// Config configures the ingestor.
type Config struct {
	// HTTPAddr is where Run serves Handler; empty serves no HTTP (the
	// one-process launcher mounts Handler itself). Default loopback only.
	HTTPAddr string
	// MaxBytes is the largest accepted image file.
	MaxBytes int64
	// MinSide and MaxSide bound the width and height in pixels.
	MinSide, MaxSide int
	// PatientSalt keys the HMAC that turns patient ids into patient keys
	// (required, at least 16 bytes; keep it secret and stable: changing it
	// changes every patient key).
	PatientSalt string
	// Workers is the number of NATS submissions processed concurrently.
	Workers int
	// DirConcurrency is IngestDir's default number of files in flight.
	DirConcurrency int
	// DecodeConcurrency bounds full image decodes across all sources (CPU and
	// memory: an 8192 px square decodes to 64-512 MB).
	DecodeConcurrency int
	// MaxUploads bounds concurrent HTTP uploads (each buffers up to MaxBytes).
	MaxUploads int
	// MaxDeliver bounds delivery attempts of a submission before it is
	// dead-lettered; RetryDelay is the first delay of a retry.
	MaxDeliver int
	RetryDelay time.Duration
	// PublishTimeout bounds one event publish.
	PublishTimeout time.Duration
	// ShutdownTimeout bounds the wait for HTTP requests in flight at shutdown.
	ShutdownTimeout time.Duration
	// InboxReplicas is used when the ingestor creates the inbox object store.
	InboxReplicas int
	// StowMaxInstances bounds the DICOM instances of one STOW-RS request and
	// StowMaxBytes its body; each instance is also bounded by MaxBytes.
	StowMaxInstances int
	StowMaxBytes     int64
}

// DefaultConfig returns the defaults; PatientSalt must still be set.
func DefaultConfig() Config {
	n := runtime.GOMAXPROCS(0)
	return Config{
		HTTPAddr:          "127.0.0.1:8081",
		MaxBytes:          32 << 20,
		MinSide:           64,
		MaxSide:           8192,
		Workers:           2,
		DirConcurrency:    n,
		DecodeConcurrency: n,
		MaxUploads:        8,
		MaxDeliver:        10,
		RetryDelay:        time.Second,
		PublishTimeout:    10 * time.Second,
		ShutdownTimeout:   15 * time.Second,
		InboxReplicas:     1,
		StowMaxInstances:  1000,
		StowMaxBytes:      2 << 30,
	}
}

// MinSaltLen is the shortest accepted PatientSalt.
const MinSaltLen = 16

// Validate checks the configuration and names every bad field.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.HTTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
			add("http_addr %q: %v", c.HTTPAddr, err)
		}
	}
	if c.MaxBytes <= 0 || c.MaxBytes > 1<<30 {
		add("max_bytes %d: must be between 1 and %d", c.MaxBytes, 1<<30)
	}
	if c.MinSide < 1 {
		add("min_side %d: must be at least 1", c.MinSide)
	}
	if c.MaxSide < c.MinSide || c.MaxSide > 65535 {
		add("max_side %d: must be between min_side (%d) and 65535", c.MaxSide, c.MinSide)
	}
	if len(c.PatientSalt) < MinSaltLen {
		add("patient_salt: must be at least %d bytes (got %d); it keys the hash of patient ids", MinSaltLen, len(c.PatientSalt))
	}
	for _, f := range []struct {
		name string
		v    int
	}{
		{"workers", c.Workers}, {"dir_concurrency", c.DirConcurrency}, {"decode_concurrency", c.DecodeConcurrency},
		{"max_uploads", c.MaxUploads}, {"max_deliver", c.MaxDeliver},
	} {
		if f.v < 1 || f.v > 1024 {
			add("%s %d: must be between 1 and 1024", f.name, f.v)
		}
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{
		{"retry_delay", c.RetryDelay}, {"publish_timeout", c.PublishTimeout}, {"shutdown_timeout", c.ShutdownTimeout},
	} {
		if f.v <= 0 {
			add("%s %s: must be positive", f.name, f.v)
		}
	}
	if c.StowMaxInstances < 1 || c.StowMaxInstances > 100000 {
		add("stow_max_instances %d: must be between 1 and 100000", c.StowMaxInstances)
	}
	if c.StowMaxBytes < c.MaxBytes {
		add("stow_max_bytes %d: must be at least max_bytes (%d)", c.StowMaxBytes, c.MaxBytes)
	}
	if c.InboxReplicas < 1 || c.InboxReplicas > 5 {
		add("inbox_replicas %d: must be between 1 and 5", c.InboxReplicas)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("ingestor config: %w", err)
	}
	return nil
}

// Deps are the ingestor's dependencies.
type Deps struct {
	// JS publishes events and reads the inbox (required). The caller owns the
	// connection.
	JS jetstream.JetStream
	// Store holds the image bytes (required).
	Store blob.Store
	// Logger; default discards.
	Logger *slog.Logger
	// Now stamps events and picks the date folder of new images; default
	// time.Now.
	Now func() time.Time
	// Metrics registers the ingestor's metrics (metrics.go); nil: none.
	Metrics prometheus.Registerer
	// Auth, when set, makes the HTTP listener that Run starts
	// (Config.HTTPAddr) require bearer tokens of users holding the role
	// ingest (package auth); nil serves it without authentication. The
	// platform mounts Handler itself, with its own rules.
	Auth *auth.Users
}

// Service is the ingestor.
type Service struct {
	cfg     Config
	js      jetstream.JetStream
	store   blob.Store
	log     *slog.Logger
	now     func() time.Time
	decode  chan struct{} // semaphore of full decodes
	uploads chan struct{} // semaphore of HTTP uploads
	met     *metrics
	users   *auth.Users

	inboxOnce sync.Mutex
	inbox     jetstream.ObjectStore

	addrMu sync.Mutex
	addr   net.Addr
}

// New checks cfg and returns an ingestor. IngestBytes, IngestDir and Handler
// work at once; Run starts the NATS consumer and the HTTP listener.
func New(cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.JS == nil {
		return nil, errors.New("new ingestor: JetStream is required")
	}
	if deps.Store == nil {
		return nil, errors.New("new ingestor: blob store is required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &Service{
		cfg:     cfg,
		js:      deps.JS,
		store:   deps.Store,
		log:     deps.Logger,
		now:     deps.Now,
		decode:  make(chan struct{}, cfg.DecodeConcurrency),
		uploads: make(chan struct{}, cfg.MaxUploads),
		met:     newMetrics(deps.Metrics),
		users:   deps.Auth,
	}, nil
}

// Addr returns the address of Run's HTTP listener once it listens, else nil.
func (s *Service) Addr() net.Addr {
	s.addrMu.Lock()
	defer s.addrMu.Unlock()
	return s.addr
}

// stopping reports whether err is only the consequence of ctx being
// cancelled: a requested stop, not a failure.
func stopping(ctx context.Context, err error) bool {
	return ctx.Err() != nil && errors.Is(err, context.Canceled)
}

// openInbox opens (creating if needed) the inbox object store once.
func (s *Service) openInbox(ctx context.Context) (jetstream.ObjectStore, error) {
	s.inboxOnce.Lock()
	defer s.inboxOnce.Unlock()
	if s.inbox != nil {
		return s.inbox, nil
	}
	obs, err := bus.OpenObjectStore(ctx, s.js, jetstream.ObjectStoreConfig{
		Bucket:      proto.BucketInbox,
		Description: "image bytes submitted for ingestion (deleted once ingested)",
		Storage:     jetstream.FileStorage,
		Replicas:    s.cfg.InboxReplicas,
	})
	if err != nil {
		return nil, err
	}
	s.inbox = obs
	return obs, nil
}

// Run consumes image submissions from NATS and, when Config.HTTPAddr is set,
// serves Handler there, until ctx is cancelled. It then stops taking work,
// finishes the submissions and HTTP requests in flight (HTTP bounded by
// ShutdownTimeout) and returns nil. It returns an error if it cannot start or
// if the consumer or the listener fails.
func (s *Service) Run(ctx context.Context) error {
	if _, err := s.openInbox(ctx); err != nil {
		if stopping(ctx, err) {
			return nil
		}
		return fmt.Errorf("start ingestor: %w", err)
	}
	// runCtx also ends if the HTTP listener fails.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	httpErr := make(chan error, 1)

	var wg sync.WaitGroup
	var srv *http.Server
	if s.cfg.HTTPAddr != "" {
		ln, err := net.Listen("tcp", s.cfg.HTTPAddr)
		if err != nil {
			return fmt.Errorf("start ingestor: listen on %s: %w", s.cfg.HTTPAddr, err)
		}
		s.addrMu.Lock()
		s.addr = ln.Addr()
		s.addrMu.Unlock()
		srv = &http.Server{
			Handler:           auth.Require(s.users, auth.RoleIngest, s.Handler()),
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       5 * time.Minute,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		}
		s.log.Info("ingestor http listening", "addr", ln.Addr().String())
		wg.Go(func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				httpErr <- fmt.Errorf("ingestor http on %s: %w", ln.Addr(), err)
				cancel()
			}
		})
	}

	s.log.Info("ingestor started", "workers", s.cfg.Workers, "max_bytes", s.cfg.MaxBytes)
	consumeErr := bus.Consume(runCtx, s.js, bus.ConsumerConfig{
		Stream:         proto.StreamXRay,
		Durable:        proto.ConsumerIngestor,
		FilterSubjects: []string{proto.SubjectImageSubmit},
		Workers:        s.cfg.Workers,
		MaxDeliver:     s.cfg.MaxDeliver,
		RetryDelay:     s.cfg.RetryDelay,
		// Downloading and decoding a large image takes a while.
		AckWait: max(30*time.Second, 3*s.cfg.PublishTimeout),
	}, s.log, s.handleSubmit)

	// Stop taking uploads and wait for those in flight.
	var errs []error
	if srv != nil {
		sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
		if err := srv.Shutdown(sctx); err != nil {
			errs = append(errs, fmt.Errorf("stop ingestor http: %w", err))
			_ = srv.Close()
		}
		scancel()
	}
	wg.Wait()
	select {
	case err := <-httpErr:
		errs = append(errs, err)
	default:
	}
	if consumeErr != nil && !stopping(runCtx, consumeErr) {
		errs = append(errs, fmt.Errorf("ingestor: %w", consumeErr))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	s.log.Info("ingestor stopped")
	return nil
}
