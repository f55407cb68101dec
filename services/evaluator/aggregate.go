package evaluator

import (
	"cmp"
	"maps"
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/healthcare-ai/platform/proto"
)

// counts are the additive numbers of one arm.
type counts struct {
	Predictions  int
	Errors       int
	Served       int
	Feedback     int
	Inconsistent int
	Confusion    proto.Confusion
}

func (c *counts) add(d counts, sign int) {
	c.Predictions += sign * d.Predictions
	c.Errors += sign * d.Errors
	c.Served += sign * d.Served
	c.Feedback += sign * d.Feedback
	c.Inconsistent += sign * d.Inconsistent
	c.Confusion.TP += sign * d.Confusion.TP
	c.Confusion.FP += sign * d.Confusion.FP
	c.Confusion.TN += sign * d.Confusion.TN
	c.Confusion.FN += sign * d.Confusion.FN
}

type armContribution struct {
	experiment string
	epoch      int
	arm        string
	counts     counts
	day        string // UTC date of the result's completion, "" when unknown
	latency    int    // proto.LatencyBucket of an ok result's latency, -1 for none
	model      model  // the model version that answered
}

// pairContribution is a request that both arms answered (status ok) in the
// same experiment and epoch and that has a verdict: one cell of the epoch's
// paired table.
type pairContribution struct {
	ok                bool
	experiment        string
	epoch             int
	championCorrect   bool
	challengerCorrect bool
	positive          bool // the verdict is PNEUMONIA
}

// contribution is what one request adds to the aggregates. It is comparable,
// so an unchanged contribution is detected with ==.
type contribution struct {
	arms  [2]armContribution // one per arm with a result
	nArms int
	pair  pairContribution
	// adjudication lists the experiments (at most one per arm) in which the
	// request awaits adjudication.
	adjudication  [2]string
	nAdjudication int
	pending       int // 1: feedback without any result
	unattributed  int // 1: awaiting adjudication without any result
}

func experimentOf(r ArmResult) string {
	if r.Experiment == "" {
		return DefaultExperiment
	}
	return r.Experiment
}

// contribute computes a state's contribution under policy; nil contributes
// nothing.
func contribute(st *RequestState, policy Policy) contribution {
	var c contribution
	if st == nil {
		return c
	}
	v := Judge(st, policy)
	if len(st.Results) == 0 {
		if len(st.Feedback) > 0 {
			c.pending = 1
			if v.NeedsAdjudication {
				c.unattributed = 1
			}
		}
		return c
	}
	for _, arm := range proto.Arms {
		r, ok := st.Results[arm]
		if !ok {
			continue
		}
		exp := experimentOf(r)
		var n counts
		latency := -1
		if r.Status == proto.StatusOK {
			latency = proto.LatencyBucket(r.LatencyMS)
			n.Predictions = 1
			if r.Served {
				n.Served = 1
			}
			if v.GroundTruth != "" {
				n.Feedback = 1
				n.Confusion.Add(r.Label, v.GroundTruth, 1)
				if fb := st.Feedback[v.FeedbackID]; r.Served && fb.FeedbackType != "" &&
					proto.ImpliedPrediction(fb.FeedbackType) != r.Label {
					n.Inconsistent = 1
				}
			}
		} else {
			n.Errors = 1
		}
		c.arms[c.nArms] = armContribution{experiment: exp, epoch: r.Epoch, arm: arm, counts: n, day: dayOf(r), latency: latency,
			model: model{r.ModelName, r.ModelVersion}}
		c.nArms++
		if v.NeedsAdjudication && !slices.Contains(c.adjudication[:c.nAdjudication], exp) {
			c.adjudication[c.nAdjudication] = exp
			c.nAdjudication++
		}
	}
	champ, okC := st.Results[proto.ArmChampion]
	chall, okH := st.Results[proto.ArmChallenger]
	if okC && okH && champ.Status == proto.StatusOK && chall.Status == proto.StatusOK && v.GroundTruth != "" &&
		experimentOf(champ) == experimentOf(chall) && champ.Epoch == chall.Epoch {
		c.pair = pairContribution{
			ok:                true,
			experiment:        experimentOf(champ),
			epoch:             champ.Epoch,
			championCorrect:   champ.Label == v.GroundTruth,
			challengerCorrect: chall.Label == v.GroundTruth,
			positive:          v.GroundTruth == proto.LabelPneumonia,
		}
	}
	return c
}

// dayOf is the UTC date a result completed (routed, for results without a
// completion time), "" when neither is known.
func dayOf(r ArmResult) string {
	at := r.CompletedAt
	if at.IsZero() {
		at = r.RoutedAt
	}
	if at.IsZero() {
		return ""
	}
	return at.UTC().Format(time.DateOnly)
}

// dayModel keys the per-day numbers of a model version.
type dayModel struct {
	day string
	model
}

// latencyHist counts ok results per proto.LatencyBuckets bucket.
type latencyHist []int

func (h latencyHist) summary() *proto.LatencySummary {
	n := 0
	for _, c := range h {
		n += c
	}
	if n == 0 {
		return nil
	}
	q := func(p float64) float64 {
		rank := int(math.Ceil(p * float64(n)))
		acc := 0
		for i, c := range h {
			acc += c
			if acc >= rank {
				return proto.LatencyBuckets[i]
			}
		}
		return proto.LatencyBuckets[len(h)-1]
	}
	return &proto.LatencySummary{P50: q(0.50), P90: q(0.90), P99: q(0.99), N: n}
}

// seen is a value with the time it was observed at; later observations win.
type seen[T comparable] struct {
	v  T
	at time.Time
	ok bool
}

// observe records v seen at t; it reports whether the kept value changed.
func (s *seen[T]) observe(v T, t time.Time) bool {
	if s.ok && !t.After(s.at) {
		return false
	}
	changed := !s.ok || s.v != v
	s.v, s.at, s.ok = v, t, true
	return changed
}

type model struct{ name, version string }

type experimentAgg struct {
	arms         map[string]*counts
	adjudication int
	split        seen[proto.Split]
	mode         seen[string]
	models       map[string]*seen[model]
	epochs       map[int]*epochAgg
	latency      map[string]latencyHist
	// Per model version, whichever arm served it: counts, latency, and
	// the arm it was last seen in (overall and per day).
	byModel      map[model]*counts
	modelLatency map[model]latencyHist
	modelArm     map[model]*seen[string]
	days         map[dayModel]*counts
	dayArms      map[dayModel]*seen[string]
}

func newExperimentAgg() *experimentAgg {
	e := &experimentAgg{arms: map[string]*counts{}, models: map[string]*seen[model]{}, epochs: map[int]*epochAgg{},
		latency: map[string]latencyHist{}, byModel: map[model]*counts{}, modelLatency: map[model]latencyHist{},
		modelArm: map[model]*seen[string]{}, days: map[dayModel]*counts{}, dayArms: map[dayModel]*seen[string]{}}
	for _, arm := range proto.Arms {
		e.arms[arm] = &counts{}
		e.models[arm] = &seen[model]{}
		e.latency[arm] = make(latencyHist, len(proto.LatencyBuckets))
	}
	return e
}

// day returns the counts of a model version on a day.
func (e *experimentAgg) day(k dayModel) *counts {
	c := e.days[k]
	if c == nil {
		c = &counts{}
		e.days[k] = c
	}
	return c
}

// model returns the counts and latency histogram of a model version.
func (e *experimentAgg) model(m model) (*counts, latencyHist) {
	c := e.byModel[m]
	if c == nil {
		c = &counts{}
		e.byModel[m] = c
		e.modelLatency[m] = make(latencyHist, len(proto.LatencyBuckets))
	}
	return c, e.modelLatency[m]
}

// daily renders the per-day numbers of each model version for the last
// proto.MaxDailyMetrics days with results, oldest first, then by model.
func (e *experimentAgg) daily() []proto.DailyMetrics {
	var keys []dayModel
	days := map[string]bool{}
	for k, c := range e.days {
		if *c != (counts{}) {
			keys = append(keys, k)
			days[k.day] = true
		}
	}
	cut := ""
	if sorted := slices.Sorted(maps.Keys(days)); len(sorted) > proto.MaxDailyMetrics {
		cut = sorted[len(sorted)-proto.MaxDailyMetrics]
	}
	slices.SortFunc(keys, func(a, b dayModel) int {
		return cmp.Or(cmp.Compare(a.day, b.day), cmp.Compare(a.name, b.name), cmp.Compare(a.version, b.version))
	})
	var out []proto.DailyMetrics
	for _, k := range keys {
		if k.day < cut {
			continue
		}
		c := e.days[k]
		dm := proto.DailyMetrics{Date: k.day, ModelName: k.name, ModelVersion: k.version, Predictions: c.Predictions,
			Feedback: c.Feedback, Confusion: c.Confusion, Accuracy: c.Confusion.Accuracy()}
		if a := e.dayArms[k]; a != nil {
			dm.Arm = a.v
		}
		out = append(out, dm)
	}
	return out
}

// versionMetrics renders the metrics of each model version that answered in the
// experiment, whichever arm served it: the version the champion arm serves
// now first, then the challenger's, then the others by name and version.
// Arm is the arm the version was last seen in; TrafficActual is its share of
// all served predictions; TrafficConfigured is not defined (0).
func (e *experimentAgg) versionMetrics() []proto.ModelMetrics {
	served := 0
	for _, c := range e.arms {
		served += c.Served
	}
	rank := func(m model) int {
		for i, arm := range proto.Arms {
			if md := e.models[arm]; md.ok && md.v == m {
				return i
			}
		}
		return len(proto.Arms)
	}
	var ms []model
	for m, c := range e.byModel {
		if *c != (counts{}) {
			ms = append(ms, m)
		}
	}
	slices.SortFunc(ms, func(a, b model) int {
		return cmp.Or(cmp.Compare(rank(a), rank(b)), cmp.Compare(a.name, b.name), cmp.Compare(a.version, b.version))
	})
	out := make([]proto.ModelMetrics, 0, len(ms))
	for _, m := range ms {
		c := e.byModel[m]
		mm := proto.ModelMetrics{ModelName: m.name, ModelVersion: m.version, Predictions: c.Predictions, Errors: c.Errors,
			Served: c.Served, Feedback: c.Feedback, Confusion: c.Confusion, Inconsistent: c.Inconsistent}
		if a := e.modelArm[m]; a != nil {
			mm.Arm = a.v
		}
		if served > 0 {
			mm.TrafficActual = float64(c.Served) / float64(served)
		}
		mm.Fill()
		mm.Latency = e.modelLatency[m].summary()
		out = append(out, mm)
	}
	return out
}

func (e *experimentAgg) epoch(n int) *epochAgg {
	ep := e.epochs[n]
	if ep == nil {
		ep = newEpochAgg()
		e.epochs[n] = ep
	}
	return ep
}

// epochAgg are the numbers of one epoch of an experiment.
type epochAgg struct {
	arms      map[string]*counts
	models    map[string]*seen[model]
	split     seen[proto.Split]
	paired    proto.PairedCounts
	positives proto.PairedCounts
	negatives proto.PairedCounts
}

func newEpochAgg() *epochAgg {
	ep := &epochAgg{arms: map[string]*counts{}, models: map[string]*seen[model]{}}
	for _, arm := range proto.Arms {
		ep.arms[arm] = &counts{}
		ep.models[arm] = &seen[model]{}
	}
	return ep
}

// empty reports whether no request counts in the epoch (any more: a result
// replaced by one of another epoch leaves its old epoch).
func (ep *epochAgg) empty() bool {
	for _, c := range ep.arms {
		if *c != (counts{}) {
			return false
		}
	}
	return ep.paired == (proto.PairedCounts{})
}

// aggregates are the live sums of all requests' contributions, plus the
// latest-seen experiment settings. Safe for concurrent use.
type aggregates struct {
	mu           sync.Mutex
	exps         map[string]*experimentAgg
	pending      int
	unattributed int
	dirty        map[string]bool
	changed      chan struct{} // signalled (capacity 1) when dirty gains an entry
	review       *reviewIndex  // follows every state transition; nil: none
}

func newAggregates() *aggregates {
	return &aggregates{exps: map[string]*experimentAgg{}, dirty: map[string]bool{}, changed: make(chan struct{}, 1)}
}

func (a *aggregates) exp(name string) *experimentAgg {
	e := a.exps[name]
	if e == nil {
		e = newExperimentAgg()
		a.exps[name] = e
	}
	return e
}

func (a *aggregates) addLocked(c contribution, sign int) {
	for _, ac := range c.arms[:c.nArms] {
		e := a.exp(ac.experiment)
		e.arms[ac.arm].add(ac.counts, sign)
		e.epoch(ac.epoch).arms[ac.arm].add(ac.counts, sign)
		if ac.day != "" {
			e.day(dayModel{ac.day, ac.model}).add(ac.counts, sign)
		}
		mc, ml := e.model(ac.model)
		mc.add(ac.counts, sign)
		if ac.latency >= 0 {
			e.latency[ac.arm][ac.latency] += sign
			ml[ac.latency] += sign
		}
		a.dirty[ac.experiment] = true
	}
	if p := c.pair; p.ok {
		ep := a.exp(p.experiment).epoch(p.epoch)
		ep.paired.Add(p.championCorrect, p.challengerCorrect, sign)
		if p.positive {
			ep.positives.Add(p.championCorrect, p.challengerCorrect, sign)
		} else {
			ep.negatives.Add(p.championCorrect, p.challengerCorrect, sign)
		}
		a.dirty[p.experiment] = true
	}
	for _, exp := range c.adjudication[:c.nAdjudication] {
		a.exp(exp).adjudication += sign
	}
	a.pending += sign * c.pending
	a.unattributed += sign * c.unattributed
}

// observeLocked folds the settings that results carry (split, mode, model),
// for the experiment and for the result's epoch.
func (a *aggregates) observeLocked(st *RequestState) {
	if st == nil {
		return
	}
	for arm, r := range st.Results {
		at := r.CompletedAt
		if at.IsZero() {
			at = r.RoutedAt
		}
		name := experimentOf(r)
		e := a.exp(name)
		changed := e.split.observe(r.ConfiguredSplit, at)
		if arm == proto.ArmChallenger {
			// Only the shadow mode leaves the challenger's answers unserved.
			mode := proto.ModeSplit
			if !r.Served {
				mode = proto.ModeShadow
			}
			changed = e.mode.observe(mode, at) || changed
		}
		md := model{r.ModelName, r.ModelVersion}
		changed = e.models[arm].observe(md, at) || changed
		if e.modelArm[md] == nil {
			e.modelArm[md] = &seen[string]{}
		}
		changed = e.modelArm[md].observe(arm, at) || changed
		if d := dayOf(r); d != "" {
			k := dayModel{d, md}
			if e.dayArms[k] == nil {
				e.dayArms[k] = &seen[string]{}
			}
			changed = e.dayArms[k].observe(arm, at) || changed
		}
		ep := e.epoch(r.Epoch)
		changed = ep.split.observe(r.ConfiguredSplit, at) || changed
		changed = ep.models[arm].observe(md, at) || changed
		if changed {
			a.dirty[name] = true
		}
	}
}

// apply moves the aggregates from a request's old state to its new one. It
// must be called exactly once per stored transition (or with old == nil once
// per stored state when rebuilding).
func (a *aggregates) apply(old, cur contribution, st *RequestState) {
	a.mu.Lock()
	defer a.mu.Unlock()
	before := len(a.dirty)
	if old != cur {
		pendingBefore := a.pending
		a.addLocked(old, -1)
		a.addLocked(cur, +1)
		if a.pending != pendingBefore {
			// Every snapshot reports the global pending count.
			for name := range a.exps {
				a.dirty[name] = true
			}
		}
	}
	a.observeLocked(st)
	a.review.observe(st)
	if len(a.dirty) > before {
		a.signal()
	}
}

func (a *aggregates) signal() {
	select {
	case a.changed <- struct{}{}:
	default:
	}
}

// takeDirty returns and clears the experiments changed since the last call.
func (a *aggregates) takeDirty() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	names := make([]string, 0, len(a.dirty))
	for name := range a.dirty {
		names = append(names, name)
	}
	clear(a.dirty)
	sort.Strings(names)
	return names
}

// markDirty re-queues experiments whose publication failed.
func (a *aggregates) markDirty(names []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, n := range names {
		a.dirty[n] = true
	}
	a.signal()
}

func (a *aggregates) names() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	names := make([]string, 0, len(a.exps))
	for name := range a.exps {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func (a *aggregates) totals() (pending, unattributed int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pending, a.unattributed
}

// snapshot renders one experiment; ok is false when it has never been seen.
func (a *aggregates) snapshot(name string) (snap proto.MetricsSnapshot, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	snap = proto.MetricsSnapshot{SchemaVersion: proto.SchemaVersion, Experiment: name, PendingFeedback: a.pending}
	e, ok := a.exps[name]
	if !ok {
		e = newExperimentAgg()
	}
	snap.Mode = e.mode.v
	if !e.mode.ok && e.split.ok {
		snap.Mode = proto.ModeSplit
	}
	snap.Split = e.split.v
	snap.Adjudication = e.adjudication
	snap.Models = armMetrics(e.arms, e.models, e.split)
	for i := range snap.Models {
		snap.Models[i].Latency = e.latency[snap.Models[i].Arm].summary()
	}
	snap.Daily = e.daily()
	snap.ByModel = e.versionMetrics()
	epochs := make([]int, 0, len(e.epochs))
	for n, ep := range e.epochs {
		if !ep.empty() {
			epochs = append(epochs, n)
		}
	}
	slices.Sort(epochs)
	for _, n := range epochs {
		ep := e.epochs[n]
		snap.Epochs = append(snap.Epochs, proto.EpochMetrics{
			Epoch:           n,
			Models:          armMetrics(ep.arms, ep.models, ep.split),
			Paired:          ep.paired,
			PairedPositives: ep.positives,
			PairedNegatives: ep.negatives,
		})
	}
	return snap, ok
}

// armMetrics renders the metrics of both arms from their counts, the latest
// models and the latest configured split seen.
func armMetrics(arms map[string]*counts, models map[string]*seen[model], split seen[proto.Split]) []proto.ModelMetrics {
	served := 0
	for _, c := range arms {
		served += c.Served
	}
	out := make([]proto.ModelMetrics, 0, len(proto.Arms))
	for _, arm := range proto.Arms {
		c, md := arms[arm], models[arm]
		m := proto.ModelMetrics{
			Arm:          arm,
			ModelName:    md.v.name,
			ModelVersion: md.v.version,
			Predictions:  c.Predictions,
			Errors:       c.Errors,
			Served:       c.Served,
			Feedback:     c.Feedback,
			Confusion:    c.Confusion,
			Inconsistent: c.Inconsistent,
		}
		if served > 0 {
			m.TrafficActual = float64(c.Served) / float64(served)
		}
		if split.ok {
			m.TrafficConfigured = float64(split.v.Weight(arm)) / 100
		}
		m.Fill()
		out = append(out, m)
	}
	return out
}
