package tablewriter

import (
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/tables"
)

// source says where a table's rows come from and how a message becomes rows.
type source[T any] struct {
	table   proto.Table
	stream  string
	filters []string
	// rows converts one message; an error means the message is not a valid
	// event (it is dead-lettered).
	rows func(m jetstream.Msg, seq uint64) ([]tables.Dated[T], error)
}

func xrayImages() source[proto.XRayImageRow] {
	return source[proto.XRayImageRow]{
		table:   proto.TableXRayImages,
		stream:  proto.StreamXRay,
		filters: []string{proto.SubjectImageIngested, proto.SubjectImageRejected},
		rows: func(m jetstream.Msg, _ uint64) ([]tables.Dated[proto.XRayImageRow], error) {
			switch m.Subject() {
			case proto.SubjectImageIngested:
				var e proto.ImageIngested
				if err := proto.Decode(m.Data(), &e); err != nil {
					return nil, err
				}
				return []tables.Dated[proto.XRayImageRow]{tables.ImageIngestedRow(&e)}, nil
			case proto.SubjectImageRejected:
				var e proto.ImageRejected
				if err := proto.Decode(m.Data(), &e); err != nil {
					return nil, err
				}
				return []tables.Dated[proto.XRayImageRow]{tables.ImageRejectedRow(&e)}, nil
			}
			return nil, fmt.Errorf("%w: unexpected subject %s", proto.ErrSchema, m.Subject())
		},
	}
}

func inferenceLog() source[proto.InferenceLogRow] {
	return source[proto.InferenceLogRow]{
		table:   proto.TableInferenceLog,
		stream:  proto.StreamInference,
		filters: []string{proto.InferenceResultsAll},
		rows: func(m jetstream.Msg, seq uint64) ([]tables.Dated[proto.InferenceLogRow], error) {
			var e proto.InferenceResult
			if err := proto.Decode(m.Data(), &e); err != nil {
				return nil, err
			}
			r, err := tables.InferenceResultRow(&e, seq)
			if err != nil {
				return nil, fmt.Errorf("%w: %v", proto.ErrSchema, err)
			}
			return []tables.Dated[proto.InferenceLogRow]{r}, nil
		},
	}
}

func predictionFeedback() source[proto.PredictionFeedbackRow] {
	return source[proto.PredictionFeedbackRow]{
		table:   proto.TablePredictionFeedback,
		stream:  proto.StreamFeedback,
		filters: []string{proto.SubjectFeedbackRecorded},
		rows: func(m jetstream.Msg, seq uint64) ([]tables.Dated[proto.PredictionFeedbackRow], error) {
			var e proto.FeedbackRecorded
			if err := proto.Decode(m.Data(), &e); err != nil {
				return nil, err
			}
			return []tables.Dated[proto.PredictionFeedbackRow]{tables.FeedbackRow(&e, seq)}, nil
		},
	}
}

func modelPerformance() source[proto.ModelPerformanceRow] {
	return source[proto.ModelPerformanceRow]{
		table:   proto.TableModelPerformance,
		stream:  proto.StreamMetrics,
		filters: []string{proto.MetricsExperimentsAll},
		rows: func(m jetstream.Msg, _ uint64) ([]tables.Dated[proto.ModelPerformanceRow], error) {
			var e proto.MetricsSnapshot
			if err := proto.Decode(m.Data(), &e); err != nil {
				return nil, err
			}
			return tables.PerformanceRows(&e), nil
		},
	}
}

func experimentDecisions() source[proto.ExperimentDecisionRow] {
	return source[proto.ExperimentDecisionRow]{
		table:   proto.TableExperimentDecisions,
		stream:  proto.StreamDecisions,
		filters: []string{proto.DecisionsAll},
		rows: func(m jetstream.Msg, _ uint64) ([]tables.Dated[proto.ExperimentDecisionRow], error) {
			var e proto.DecisionEvent
			if err := proto.Decode(m.Data(), &e); err != nil {
				return nil, err
			}
			return []tables.Dated[proto.ExperimentDecisionRow]{tables.DecisionRow(&e)}, nil
		},
	}
}
