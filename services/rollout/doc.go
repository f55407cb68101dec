// Package rollout is the decision engine and rollout controller of a
// champion/challenger experiment.
//
// It follows the evaluator's metrics snapshots (metrics.<experiment>.experiment)
// and, at every look, asks package decision whether the challenger is
// significantly better (PROMOTE), worse (ROLLBACK) or neither yet
// (KEEP_TESTING), with always-valid tests, so that looking after every
// feedback keeps the false decision rate at alpha. Each stage is tested on its
// own data: the router stamps the experiment's epoch on every request and the
// evaluator counts per epoch, and every change of split starts a new epoch.
//
// On PROMOTE the split moves to the next stage (challenger share 50 -> 70 ->
// 90 -> 100 by default). Reaching 100 makes the challenger the champion: the
// traffic goes to the challenger arm, both registry aliases move to the
// promoted model, the old champion is archived (never deleted), and the split
// returns to champion 100 / challenger 0 until a new challenger is started.
// On ROLLBACK the challenger's weight drops to 0 at once.
//
// Modes: automatic (the controller moves the split) and approval (the
// default for clinical use: the controller recommends, a person approves or
// rejects over HTTP or `hap rollout`). Rollbacks are executed at once in both
// modes. Every decision that changes something, every recommendation,
// approval and rejection, and a KEEP_TESTING at most every
// Config.KeepTestingEvery, is a proto.DecisionEvent on decisions.<experiment>:
// the audit log, kept by the DECISIONS stream and copied to the table
// gold.experiment_decisions.
//
// State (the engine's always-valid summaries, the pending recommendation and
// the stage history) is kept in the KV bucket "rollout" so that a restart
// continues the same sequential test. Run one controller per experiment.
package rollout
