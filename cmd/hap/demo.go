package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthcare-ai/platform/auth"
	"github.com/healthcare-ai/platform/model"
	"github.com/healthcare-ai/platform/platform"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/feedback/client"
	"github.com/healthcare-ai/platform/services/ingestor"
	"github.com/healthcare-ai/platform/services/rollout"
	"github.com/healthcare-ai/platform/tables/query"
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
	scenario      string
	wave          int
	pace          time.Duration
	rolloutMode   string
	stages        []int
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
	fs.IntVar(&c.perClass, "n", 1500, "images per class (NORMAL, PNEUMONIA); the run stops early once the scenario has decided")
	fs.Uint64Var(&c.seed, "seed", 7, "seed of the demo images (differs from the training seed: the models have not seen them)")
	fs.Float64Var(&c.coverage, "feedback", 0.8, "share of predictions that radiologists answer, 0..1")
	fs.DurationVar(&c.delay, "feedback-delay", 0, "delay between a prediction and its radiologist's answer")
	fs.IntVar(&c.radiologists, "radiologists", 4, "radiologists answering in parallel")
	fs.StringVar(&c.httpAddr, "http", "127.0.0.1:8080", "HTTP `address` of the platform during the run (a free port is used if it is taken)")
	fs.StringVar(&c.models, "models", "models", "`dir` of the committed models")
	fs.DurationVar(&c.timeout, "timeout", 20*time.Minute, "give up after this long")
	fs.BoolVar(&c.verbose, "v", false, "log the platform's events to stderr")
	fs.StringVar(&c.scenario, "scenario", "promote", "promote: the committed, truly better challenger; rollback: a deliberately degraded challenger; aa: the champion against itself")
	fs.IntVar(&c.wave, "wave", 100, "images per wave: cases arrive in waves, so that a new split applies to the next ones")
	fs.DurationVar(&c.pace, "pace", 0, "pause between waves (e.g. 3s), to watch the experiment evolve on the dashboard")
	stages := fs.String("stages", "50,70,100", "rollout stages: the challenger's share in percent at each stage, the last one 100 (the platform default is 50,70,90,100; the 90% stage needs thousands of cases because the champion arm then gets 10%)")
	fs.StringVar(&c.rolloutMode, "rollout", proto.RolloutAutomatic, "decision engine mode: automatic, or approval (the demo then approves as \"demo-lead\")")
	if err := parseFlags(fs, args, true); err != nil {
		return err
	}
	if c.perClass < 1 || c.coverage < 0 || c.coverage > 1 || c.radiologists < 1 || c.wave < 1 || c.pace < 0 {
		return fmt.Errorf("%w: -n must be >= 1, -feedback within 0..1, -radiologists >= 1, -wave >= 1, -pace >= 0", errUsage)
	}
	for _, f := range strings.Split(*stages, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return fmt.Errorf("%w: -stages %q: %v", errUsage, *stages, err)
		}
		c.stages = append(c.stages, n)
	}
	if c.scenario != "promote" && c.scenario != "rollback" && c.scenario != "aa" {
		return fmt.Errorf("%w: -scenario %q: want promote, rollback or aa", errUsage, c.scenario)
	}
	if c.rolloutMode != proto.RolloutAutomatic && c.rolloutMode != proto.RolloutApproval {
		return fmt.Errorf("%w: -rollout %q: want automatic or approval", errUsage, c.rolloutMode)
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
	cfg.Tables.FlushInterval = time.Second // the report reads the tables right after the run
	cfg.Rollout.Mode = c.rolloutMode
	cfg.Rollout.Stages = c.stages
	if err := cfg.Rollout.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	cfg.Rollout.KeepTestingEvery = 10 * time.Second
	if c.verbose {
		cfg.Logger = slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	// The HTTP API runs with authentication, as in production: each
	// simulated radiologist signs in with a token of its own, and feedback is
	// recorded under it.
	var tokens map[string]string
	cfg.Auth, tokens, err = demoUsers(state, c.radiologists)
	if err != nil {
		return err
	}
	p, err := platform.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer p.Stop(context.WithoutCancel(ctx))
	logf("platform: NATS %s, HTTP http://%s, state %s", p.NATSURL(), p.HTTPAddr(), state)
	logf("dashboard: http://%s/dashboard#token=%s   (watch the experiment live; tokens in %s)", p.HTTPAddr(), tokens["admin"], filepath.Join(state, "tokens.txt"))
	if err := setScenario(ctx, p, c.scenario, logf); err != nil {
		return err
	}
	for _, arm := range proto.Arms {
		ref, md, _ := p.Predictor.Serving(arm)
		logf("platform: %-10s = %s version %s (%s, %dx%d input, threshold %.3f)", arm, ref.Name, ref.Version, md.Architecture,
			md.Preprocess.Width, md.Preprocess.Height, md.Threshold)
	}
	exp, _ := p.Router.Experiment()
	logf("platform: experiment %s, mode %s, split %s (champion/challenger), rollout %s, stages %v (challenger %%)",
		exp.Name, exp.Mode, exp.Split, c.rolloutMode, cfg.Rollout.Stages)

	// 3. Radiologists follow the results as they come.
	rads, err := newRadiologists(ctx, p, c, fmt.Sprintf("http://%s", p.HTTPAddr()), tokens)
	if err != nil {
		return err
	}

	// 4. Cases arrive in waves; after each, the decision engine looks.
	files, err := imageFiles(gen.Root, c.seed)
	if err != nil {
		return err
	}
	ingStart := time.Now()
	sum := ingestor.Summary{Rejected: map[string]int{}}
	seenHistory := 0
	done := false
	for w := 0; w*c.wave < len(files) && !done; w++ {
		if w > 0 && c.pace > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(c.pace):
			}
		}
		wave := map[string]bool{}
		for _, f := range files[w*c.wave : min((w+1)*c.wave, len(files))] {
			wave[f] = true
		}
		s, err := p.Ingestor.IngestDir(ctx, gen.Root, ingestor.DirOptions{Only: func(rel string) bool { return wave[rel] }})
		if err != nil {
			return fmt.Errorf("ingest %s: %w", gen.Root, err)
		}
		sum.Files += s.Files
		sum.Accepted += s.Accepted
		sum.Duplicates += s.Duplicates
		for k, n := range s.Rejected {
			sum.Rejected[k] += n
		}
		if err := settle(ctx, p, rads, sum.Accepted, logf); err != nil {
			return err
		}
		st, err := p.Rollout.Status(ctx)
		if err != nil {
			return err
		}
		if pend := st.State.Pending; pend != nil && c.rolloutMode == proto.RolloutApproval {
			logf("rollout: %s %s -> %s recommended; approving as demo-lead", pend.Action, pend.SplitFrom, pend.SplitTo)
			if _, err := p.Rollout.Approve(ctx, "demo-lead", "demo run: recommendation reviewed"); err != nil {
				return err
			}
			if st, err = p.Rollout.Status(ctx); err != nil {
				return err
			}
		}
		for _, ch := range st.State.History[min(seenHistory, len(st.State.History)):] {
			lab := ""
			if last := st.State.Last; last != nil {
				lab = fmt.Sprintf(" (always-valid p %.2g)", last.PValue)
			}
			logf("rollout: %s, split %s -> %s (champion/challenger) after %d images%s", ch.Action, ch.SplitFrom, ch.SplitTo, sum.Accepted, lab)
			logf("         %s", ch.Reason)
			if ch.Promoted != "" {
				logf("rollout: %s is now the champion; %s archived", ch.Promoted, ch.Archived)
			}
			if ch.Promoted != "" || ch.Action == proto.ActionRollback {
				done = true
			}
		}
		seenHistory = len(st.State.History)
	}
	predWall := time.Since(ingStart)
	rejected := 0
	for _, n := range sum.Rejected {
		rejected += n
	}
	logf("ingest: %d files, %d accepted, %d rejected, %d duplicates; %d results in %.1fs (%.1f images/s end to end, including waits for the radiologists)",
		sum.Files, sum.Accepted, rejected, sum.Duplicates, sum.Accepted, predWall.Seconds(), float64(sum.Accepted)/predWall.Seconds())
	submitted, failed := rads.finish(ctx, sum.Accepted)
	if failed > 0 {
		return fmt.Errorf("radiologists: %d feedback submissions failed", failed)
	}
	logf("feedback: %d answers submitted and joined", submitted)

	// 6. Report.
	snap := p.Evaluator.Snapshot(exp.Name)
	st, err := p.Rollout.Status(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	printSnapshot(stdout, snap)
	fmt.Fprintln(stdout)
	printMonitor(stdout, snap, st)
	fmt.Fprintln(stdout)
	if err := checkScenario(c.scenario, st); err != nil {
		return err
	}

	// 7. The lakehouse tables hold the same numbers.
	if err := checkTables(ctx, p, snap, sum.Accepted, submitted, logf); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\n%d images, wall time %.1fs\n", sum.Accepted, time.Since(start).Seconds())
	return nil
}

// setScenario points the challenger alias at the scenario's model and starts
// the rollout on a fresh epoch.
func setScenario(ctx context.Context, p *platform.Platform, scenario string, logf func(string, ...any)) error {
	if scenario == "promote" {
		return nil
	}
	champ, err := p.Registry.Resolve(ctx, proto.ArmChampion)
	if err != nil {
		return err
	}
	target := champ
	if scenario == "rollback" {
		data, err := p.Registry.Fetch(ctx, champ)
		if err != nil {
			return err
		}
		_, md, ok := p.Predictor.Serving(proto.ArmChampion)
		if !ok {
			return errors.New("champion model not loaded")
		}
		md.Version += "-degraded"
		md.Threshold = 0.995
		md.ThresholdRule = "deliberately degraded for the rollback scenario: threshold moved from its Youden's J value to 0.995"
		md.Description = "DEGRADED copy of " + champ.String() + ": same network, threshold 0.995 (misses most pneumonia)"
		degraded, err := model.WithMetadata(data, md)
		if err != nil {
			return err
		}
		if target, err = p.Registry.Register(ctx, champ.Name, degraded, nil); err != nil {
			return err
		}
		logf("scenario rollback: registered %s, a copy of the champion with its threshold moved to 0.995", target)
	} else {
		logf("scenario aa: the challenger arm serves the champion's model %s", target)
	}
	if err := p.Registry.SetAlias(ctx, proto.ArmChallenger, target.Name, target.Version, "hap demo"); err != nil {
		return err
	}
	if err := waitFor(ctx, time.Second, func() (bool, string) {
		ref, _, ok := p.Predictor.Serving(proto.ArmChallenger)
		return ok && ref.Name == target.Name && ref.Version == strconv.Itoa(target.Version), "challenger predictor loading " + target.String()
	}, logf); err != nil {
		return err
	}
	_, err = p.Rollout.Start(ctx, "hap demo", "scenario "+scenario)
	return err
}

// checkScenario checks that the run ended as the scenario says it must.
func checkScenario(scenario string, st rollout.Status) error {
	promoted, rolledBack := false, false
	for _, ch := range st.State.History {
		promoted = promoted || ch.Promoted != ""
		rolledBack = rolledBack || ch.Action == proto.ActionRollback
	}
	switch {
	case scenario == "promote" && !promoted:
		return fmt.Errorf("scenario promote: the challenger was not promoted to champion with this many images (try a larger -n); the monitor above says what is missing")
	case scenario == "rollback" && !rolledBack:
		return fmt.Errorf("scenario rollback: the degraded challenger was not rolled back")
	case scenario == "aa" && (promoted || rolledBack):
		return fmt.Errorf("scenario aa: a model was promoted or rolled back against itself (a false decision; expected in under 5%% of runs)")
	}
	return nil
}

// imageFiles lists the images under root (slash-separated, relative) in a
// random order fixed by seed, so that both classes arrive in every wave.
func imageFiles(root string, seed uint64) ([]string, error) {
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch strings.ToLower(filepath.Ext(p)) {
		case ".jpeg", ".jpg", ".png":
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", root, err)
	}
	slices.Sort(out)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out, nil
}

// settle waits until the cases ingested so far have results, the chosen ones
// have answers joined by the evaluator, and the decision engine has looked at
// the numbers.
func settle(ctx context.Context, p *platform.Platform, rads *radiologists, want int, logf func(string, ...any)) error {
	name := p.Rollout.Experiment()
	total := func(f func(m proto.ModelMetrics) int) int {
		n := 0
		for _, m := range p.Evaluator.Snapshot(name).Models {
			n += f(m)
		}
		return n
	}
	if err := waitFor(ctx, time.Second, func() (bool, string) {
		got := total(func(m proto.ModelMetrics) int { return m.Predictions + m.Errors })
		return got >= want, fmt.Sprintf("predictions %d/%d", got, want)
	}, logf); err != nil {
		return err
	}
	answered := rads.waitSeen(ctx, want)
	if err := waitFor(ctx, time.Second, func() (bool, string) {
		got := total(func(m proto.ModelMetrics) int { return m.Feedback })
		return got >= answered, fmt.Sprintf("feedback joined %d/%d", got, answered)
	}, logf); err != nil {
		return err
	}
	// The engine looks at each metrics snapshot (published at most once a
	// second); wait until it has seen the current labelled counts.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		st, err := p.Rollout.Status(ctx)
		if err != nil {
			return err
		}
		if st.Experiment.Split.Challenger == 0 || st.State.Epoch != st.Experiment.Epoch {
			return nil
		}
		labelled := 0
		for _, e := range p.Evaluator.Snapshot(name).Epochs {
			if e.Epoch == st.Experiment.Epoch {
				for _, m := range e.Models {
					labelled += m.Feedback
				}
			}
		}
		if last := st.State.Last; last != nil && last.Champion.Labelled+last.Challenger.Labelled >= labelled {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// checkTables waits until the table writer has written every result and
// feedback, stops the platform (the writer flushes what it holds), then runs
// the SQL comparison report over the Parquet files with DuckDB and checks it
// against the evaluator's live snapshot.
func checkTables(ctx context.Context, p *platform.Platform, snap proto.MetricsSnapshot, results, feedback int, logf func(string, ...any)) error {
	err := waitFor(ctx, time.Second, func() (bool, string) {
		rows := map[string]int64{}
		for _, st := range p.Tables.Stats() {
			rows[st.Table] = st.Rows
		}
		r, f := rows[proto.TableInferenceLog.Name], rows[proto.TablePredictionFeedback.Name]
		return r >= int64(results) && f >= int64(feedback), fmt.Sprintf("tables: inference_log %d/%d rows, prediction_feedback %d/%d", r, results, f, feedback)
	}, logf)
	if err != nil {
		return err
	}
	root := p.Blobs.URI(proto.TablesRoot)
	if err := p.Stop(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("stop platform: %w", err)
	}
	dir, ok := strings.CutPrefix(root, "file://")
	if !ok {
		return fmt.Errorf("tables at %s: not a local folder", root)
	}
	db, err := query.Open(ctx, strings.TrimSuffix(dir, "/"+proto.TablesRoot))
	if err != nil {
		return err
	}
	defer db.Close()
	sqlStart := time.Now()
	cmp, err := db.Comparison(ctx)
	if err != nil {
		return err
	}
	if err := query.CheckAgainst(cmp, snap); err != nil {
		return err
	}
	logf("tables: Parquet under %s; SQL model comparison (DuckDB, %.0f ms) equals the live metrics", root, float64(time.Since(sqlStart).Microseconds())/1000)
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
	clients  map[string]*client.Client // by radiologist id, each with its own token
	labels   sync.Map                  // request_id -> dataset label
	results  chan *proto.InferenceResult
	wg       sync.WaitGroup
	mu       sync.Mutex
	seen     int
	answered int
	failed   int
	cancel   context.CancelFunc
}

func newRadiologists(ctx context.Context, p *platform.Platform, c demoConfig, baseURL string, tokens map[string]string) (*radiologists, error) {
	r := &radiologists{c: c, clients: map[string]*client.Client{}, results: make(chan *proto.InferenceResult, 1024)}
	hc := &http.Client{Timeout: 10 * time.Second} // one connection pool for all of them
	for i := 1; i <= c.radiologists; i++ {
		doctor := doctorID(i)
		cl, err := client.New(baseURL, client.WithHTTPClient(hc), client.WithToken(tokens[doctor]))
		if err != nil {
			return nil, err
		}
		r.clients[doctor] = cl
	}
	ctx, cancel := context.WithCancel(ctx)
	r.cancel = cancel
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
	doctor := doctorID(1 + int(res.RequestID[len(res.RequestID)-1])%r.c.radiologists)
	_, err := r.clients[doctor].SubmitFeedback(ctx, res.RequestID, feedbackType(res.Label, truth), client.Source("simulator"))
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

// waitSeen waits until want results have been reviewed and returns the
// answers submitted so far.
func (r *radiologists) waitSeen(ctx context.Context, want int) int {
	for ctx.Err() == nil {
		r.mu.Lock()
		seen, answered := r.seen, r.answered
		r.mu.Unlock()
		if seen >= want {
			return answered
		}
		time.Sleep(20 * time.Millisecond)
	}
	return 0
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

// doctorID is the user id of the demo's i-th simulated radiologist.
func doctorID(i int) string { return fmt.Sprintf("DR%03d", i) }

// demoUsers issues the demo's users in its state folder (auth.json and
// tokens.txt): an administrator (for the dashboard link), the lead who
// approves in approval mode, and one radiologist per simulated reader.
func demoUsers(state string, radiologists int) (*auth.Users, map[string]string, error) {
	users := []auth.User{
		{ID: "admin", Name: "Administrator", Roles: []auth.Role{auth.RoleAdmin}},
		{ID: "demo-lead", Name: "Clinical Lead", Roles: []auth.Role{auth.RoleApprover, auth.RoleRadiologist}},
	}
	for i := 1; i <= radiologists; i++ {
		users = append(users, auth.User{ID: doctorID(i), Name: fmt.Sprintf("Radiologist %d", i), Roles: []auth.Role{auth.RoleRadiologist}})
	}
	u, issued, err := auth.Issue(filepath.Join(state, "auth.json"), filepath.Join(state, "tokens.txt"), users)
	if err != nil {
		return nil, nil, err
	}
	tokens := map[string]string{}
	for _, is := range issued {
		tokens[is.User.ID] = is.Token
	}
	return u, tokens, nil
}
