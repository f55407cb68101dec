package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthcare-ai/platform/platform"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/feedback/client"
	"github.com/healthcare-ai/platform/services/ingestor"
	"github.com/healthcare-ai/platform/xray/synth"
)

// demoConfig holds the flags of "hap demo".
type demoConfig struct {
	data          string
	state         string
	keep          bool
	perClass      int
	seed          uint64
	coverage      float64
	delay         time.Duration
	radiologists  int
	httpAddr      string
	models        string
	timeout       time.Duration
	verbose       bool
	printInterval time.Duration
}

// runDemo implements "hap demo", the main job: generate X-rays if absent,
// start the platform on the embedded default, ingest them, route, predict,
// simulate radiologists answering for a share of the requests, and print the
// per-model metrics.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c demoConfig
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.data, "data", "data", "data `dir`: the demo images go to <dir>/demo/chest_xray")
	fs.StringVar(&c.state, "state", "", "platform state `dir` (NATS store, blobs); default a fresh folder under var/demo, removed at the end unless -keep")
	fs.BoolVar(&c.keep, "keep", false, "keep the platform state after the run")
	fs.IntVar(&c.perClass, "n", 500, "images per class (NORMAL, PNEUMONIA)")
	fs.Uint64Var(&c.seed, "seed", 7, "seed of the demo images (differs from the training seed: the models have not seen them)")
	fs.Float64Var(&c.coverage, "feedback", 0.8, "share of predictions that radiologists answer, 0..1")
	fs.DurationVar(&c.delay, "feedback-delay", 0, "delay between a prediction and its radiologist's answer")
	fs.IntVar(&c.radiologists, "radiologists", 4, "radiologists answering in parallel")
	fs.StringVar(&c.httpAddr, "http", "127.0.0.1:8080", "HTTP `address` of the platform during the run (a free port is used if it is taken)")
	fs.StringVar(&c.models, "models", "models", "`dir` of the committed models")
	fs.DurationVar(&c.timeout, "timeout", 20*time.Minute, "give up after this long")
	fs.BoolVar(&c.verbose, "v", false, "log the platform's events to stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if c.perClass < 1 || c.coverage < 0 || c.coverage > 1 || c.radiologists < 1 {
		return fmt.Errorf("%w: -n must be >= 1, -feedback within 0..1, -radiologists >= 1", errUsage)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	return demo(ctx, c, stdout, stderr)
}

func demo(ctx context.Context, c demoConfig, stdout, stderr io.Writer) error {
	start := time.Now()
	logf := func(format string, a ...any) {
		fmt.Fprintf(stdout, "[%6.1fs] "+format+"\n", append([]any{time.Since(start).Seconds()}, a...)...)
	}

	// 1. Data.
	opts := synth.DefaultOptions()
	opts.Train, opts.Val = synth.Counts{}, synth.Counts{}
	opts.Test = synth.Counts{Normal: c.perClass, Pneumonia: c.perClass}
	opts.Seed = c.seed
	dataDir := filepath.Join(c.data, "demo")
	gen, err := synth.Generate(ctx, dataDir, opts)
	if err != nil {
		return fmt.Errorf("generate demo images: %w", err)
	}
	if gen.UpToDate {
		logf("data: %d synthetic X-rays already in %s", gen.Images, gen.Root)
	} else {
		logf("data: generated %d synthetic X-rays in %s", gen.Written, gen.Root)
	}

	// 2. Platform.
	state := c.state
	if state == "" {
		if err := os.MkdirAll(filepath.Join("var", "demo"), 0o755); err != nil {
			return err
		}
		if state, err = os.MkdirTemp(filepath.Join("var", "demo"), time.Now().UTC().Format("20060102-150405-")); err != nil {
			return fmt.Errorf("create state dir: %w", err)
		}
		if !c.keep {
			defer os.RemoveAll(state)
		}
	}
	cfg := platform.DefaultConfig()
	cfg.DataDir = state
	cfg.NATSPort = -1
	cfg.ModelsDir = c.models
	cfg.HTTPAddr = freeAddr(c.httpAddr)
	if c.verbose {
		cfg.Logger = slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	p, err := platform.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer p.Stop(context.WithoutCancel(ctx))
	exp, _ := p.Router.Experiment()
	logf("platform: NATS %s, HTTP http://%s, state %s", p.NATSURL(), p.HTTPAddr(), state)
	for _, arm := range proto.Arms {
		ref, md, _ := p.Predictor.Serving(arm)
		logf("platform: %-10s = %s version %s (%s, %dx%d input, threshold %.3f)", arm, ref.Name, ref.Version, md.Architecture,
			md.Preprocess.Width, md.Preprocess.Height, md.Threshold)
	}
	logf("platform: experiment %s, mode %s, split %s", exp.Name, exp.Mode, exp.Split)

	// 3. Radiologists follow the results as they come.
	rads, err := newRadiologists(ctx, p, c, fmt.Sprintf("http://%s", p.HTTPAddr()))
	if err != nil {
		return err
	}

	// 4. Ingest.
	ingStart := time.Now()
	sum, err := p.Ingestor.IngestDir(ctx, gen.Root, ingestor.DirOptions{})
	if err != nil {
		return fmt.Errorf("ingest %s: %w", gen.Root, err)
	}
	rejected := 0
	for _, n := range sum.Rejected {
		rejected += n
	}
	logf("ingest: %d files, %d accepted, %d rejected, %d duplicates (%.1fs)", sum.Files, sum.Accepted, rejected, sum.Duplicates, time.Since(ingStart).Seconds())

	// 5. Wait for every prediction, then every answer.
	want := sum.Accepted
	if exp.Mode == proto.ModeShadow {
		want *= 2
	}
	err = waitFor(ctx, time.Second, func() (bool, string) {
		snap := p.Evaluator.Snapshot(exp.Name)
		got := 0
		for _, m := range snap.Models {
			got += m.Predictions + m.Errors
		}
		return got >= want, fmt.Sprintf("predictions %d/%d", got, want)
	}, logf)
	if err != nil {
		return err
	}
	predWall := time.Since(ingStart)
	logf("predict: %d results in %.1fs (%.1f images/s end to end)", want, predWall.Seconds(), float64(sum.Accepted)/predWall.Seconds())
	submitted, failed := rads.finish(ctx, want)
	if failed > 0 {
		return fmt.Errorf("radiologists: %d feedback submissions failed", failed)
	}
	err = waitFor(ctx, time.Second, func() (bool, string) {
		snap := p.Evaluator.Snapshot(exp.Name)
		got := 0
		for _, m := range snap.Models {
			got += m.Feedback
		}
		return got >= submitted, fmt.Sprintf("feedback joined %d/%d", got, submitted)
	}, logf)
	if err != nil {
		return err
	}
	logf("feedback: %d answers submitted and joined", submitted)

	// 6. Report.
	snap := p.Evaluator.Snapshot(exp.Name)
	fmt.Fprintln(stdout)
	printSnapshot(stdout, snap)
	fmt.Fprintf(stdout, "\n%d images, end to end %.1f images/s, wall time %.1fs\n", sum.Accepted, float64(sum.Accepted)/predWall.Seconds(), time.Since(start).Seconds())
	return nil
}

// freeAddr returns addr if it can be listened on, else a free loopback port.
func freeAddr(addr string) string {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "127.0.0.1:0"
	}
	ln.Close()
	return addr
}

func waitFor(ctx context.Context, every time.Duration, cond func() (bool, string), logf func(string, ...any)) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	last := time.Now()
	for {
		ok, status := cond()
		if ok {
			return nil
		}
		if time.Since(last) >= 5*every {
			logf("waiting: %s", status)
			last = time.Now()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up waiting (%s): %w", status, ctx.Err())
		case <-tick.C:
		}
	}
}

// radiologists simulate ground truth arriving for a share of the served
// predictions: each answer states the feedback type (true-positive, ...) from
// the served label and the image's known data set label, as a radiologist
// reviewing the case would, and goes through the public HTTP API.
type radiologists struct {
	c        demoConfig
	client   *client.Client
	labels   sync.Map // request_id -> dataset label
	results  chan *proto.InferenceResult
	wg       sync.WaitGroup
	mu       sync.Mutex
	seen     int
	answered int
	failed   int
	cancel   context.CancelFunc
}

func newRadiologists(ctx context.Context, p *platform.Platform, c demoConfig, baseURL string) (*radiologists, error) {
	cl, err := client.New(baseURL)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &radiologists{c: c, client: cl, results: make(chan *proto.InferenceResult, 1024), cancel: cancel}
	// Known labels from the ingested events; results from the inference log.
	follow := func(stream, subject string, fn func(data []byte)) error {
		cons, err := p.JS.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
		if err != nil {
			return fmt.Errorf("follow %s: %w", subject, err)
		}
		cc, err := cons.Consume(func(m jetstream.Msg) { fn(m.Data()) })
		if err != nil {
			return fmt.Errorf("follow %s: %w", subject, err)
		}
		context.AfterFunc(ctx, cc.Stop)
		return nil
	}
	if err := follow(proto.StreamXRay, proto.SubjectImageIngested, func(data []byte) {
		var ev proto.ImageIngested
		if proto.Decode(data, &ev) == nil && ev.DatasetLabel != "" {
			r.labels.Store(ev.RequestID, ev.DatasetLabel)
		}
	}); err != nil {
		cancel()
		return nil, err
	}
	if err := follow(proto.StreamInference, proto.InferenceResultsAll, func(data []byte) {
		var res proto.InferenceResult
		if proto.Decode(data, &res) == nil {
			select {
			case r.results <- &res:
			case <-ctx.Done():
			}
		}
	}); err != nil {
		cancel()
		return nil, err
	}
	for range c.radiologists {
		r.wg.Add(1)
		go r.work(ctx)
	}
	return r, nil
}

// chosen decides deterministically whether a request gets an answer.
func chosen(requestID string, share float64) bool {
	h := sha256.Sum256([]byte("radiologist:" + requestID))
	return float64(binary.BigEndian.Uint64(h[:8])>>11)/float64(1<<53) < share
}

func (r *radiologists) work(ctx context.Context) {
	defer r.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case res := <-r.results:
			r.review(ctx, res)
			r.mu.Lock()
			r.seen++ // after the answer, so that finish waits for it
			r.mu.Unlock()
		}
	}
}

// review answers one result if it was served and chosen for review.
func (r *radiologists) review(ctx context.Context, res *proto.InferenceResult) {
	if !res.Served || res.Status != proto.StatusOK || !chosen(res.RequestID, r.c.coverage) {
		return
	}
	truth := r.label(ctx, res.RequestID)
	if truth == "" {
		return
	}
	if wait := time.Until(res.CompletedAt.Add(r.c.delay)); wait > 0 {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
	doctor := fmt.Sprintf("DR%03d", 1+int(res.RequestID[len(res.RequestID)-1])%r.c.radiologists)
	_, err := r.client.SubmitFeedback(ctx, res.RequestID, feedbackType(res.Label, truth),
		client.RadiologistID(doctor), client.Source("simulator"))
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.failed++
		slog.Default().Warn("feedback failed", "request_id", res.RequestID, "err", err)
	} else {
		r.answered++
	}
}

// label waits briefly for the request's data set label (its ingested event is
// published before the request is routed, so it is at most moments behind).
func (r *radiologists) label(ctx context.Context, id string) string {
	for range 200 {
		if v, ok := r.labels.Load(id); ok {
			return v.(string)
		}
		select {
		case <-ctx.Done():
			return ""
		case <-time.After(25 * time.Millisecond):
		}
	}
	return ""
}

// finish waits until every one of want results has been reviewed, then stops
// the radiologists.
func (r *radiologists) finish(ctx context.Context, want int) (answered, failed int) {
	for ctx.Err() == nil {
		r.mu.Lock()
		seen := r.seen
		r.mu.Unlock()
		if seen >= want {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.cancel()
	r.wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.answered, r.failed
}

// feedbackType is what a radiologist reports about a served label given the
// truth, as in the seed's submit_feedback.
func feedbackType(predicted, truth string) string {
	switch {
	case predicted == proto.LabelPneumonia && truth == proto.LabelPneumonia:
		return proto.FeedbackTruePositive
	case predicted == proto.LabelPneumonia:
		return proto.FeedbackFalsePositive
	case truth == proto.LabelNormal:
		return proto.FeedbackTrueNegative
	default:
		return proto.FeedbackFalseNegative
	}
}

// printSnapshot prints the per-model table of the seed's monitor.
func printSnapshot(w io.Writer, s proto.MetricsSnapshot) {
	fmt.Fprintf(w, "Experiment %s: mode %s, configured split %s (champion/challenger)\n\n", s.Experiment, s.Mode, s.Split)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(name string, f func(m proto.ModelMetrics) string) {
		fmt.Fprintf(tw, "%s\t", name)
		for _, m := range s.Models {
			fmt.Fprintf(tw, "%s\t", f(m))
		}
		fmt.Fprintln(tw)
	}
	row("", func(m proto.ModelMetrics) string { return m.Arm })
	row("model", func(m proto.ModelMetrics) string { return m.ModelName + " v" + m.ModelVersion })
	row("predictions", func(m proto.ModelMetrics) string { return fmt.Sprint(m.Predictions) })
	row("errors", func(m proto.ModelMetrics) string { return fmt.Sprint(m.Errors) })
	row("traffic actual", func(m proto.ModelMetrics) string { return pct(m.TrafficActual) })
	row("traffic configured", func(m proto.ModelMetrics) string { return pct(m.TrafficConfigured) })
	row("feedback", func(m proto.ModelMetrics) string { return fmt.Sprint(m.Feedback) })
	row("coverage", func(m proto.ModelMetrics) string { return pct(m.Coverage) })
	row("accuracy", func(m proto.ModelMetrics) string { return fmt.Sprintf("%.3f", m.Accuracy) })
	row("sensitivity", func(m proto.ModelMetrics) string { return fmt.Sprintf("%.3f", m.Sensitivity) })
	row("specificity", func(m proto.ModelMetrics) string { return fmt.Sprintf("%.3f", m.Specificity) })
	row("PPV", func(m proto.ModelMetrics) string { return fmt.Sprintf("%.3f", m.PPV) })
	row("NPV", func(m proto.ModelMetrics) string { return fmt.Sprintf("%.3f", m.NPV) })
	row("TP  FP", func(m proto.ModelMetrics) string { return fmt.Sprintf("%d  %d", m.Confusion.TP, m.Confusion.FP) })
	row("FN  TN", func(m proto.ModelMetrics) string { return fmt.Sprintf("%d  %d", m.Confusion.FN, m.Confusion.TN) })
	tw.Flush()
	fmt.Fprintln(w, "\n(confusion matrix: rows predicted PNEUMONIA/NORMAL vs truth; TP FP on the first row, FN TN on the second)")
}

func pct(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) }
