-- model_performance_live: every prediction joined with its radiologist verdict
-- (the seed's view of the same name). One row per (request_id, arm); shadow
-- predictions included (served = false).
--
-- The verdict follows the evaluator's default policy "latest":
--   * a feedback_id counts once: of several recordings of one feedback_id the
--     earliest is kept;
--   * the latest feedback with source 'adjudication' decides when there is one;
--   * otherwise the latest feedback by recorded time (ties: the larger
--     feedback_id) decides.
-- Inputs are the views inference_log and prediction_feedback (created by
-- `hap sql` over the Parquet tables).
CREATE OR REPLACE VIEW feedback_once AS
SELECT *
FROM prediction_feedback
QUALIFY row_number() OVER (
    PARTITION BY feedback_id
    ORDER BY "timestamp", coalesce(feedback_type, ''), ground_truth, coalesce(radiologist_id, ''), feedback_source
) = 1;

CREATE OR REPLACE VIEW verdicts AS
SELECT request_id, ground_truth, feedback_id, "timestamp" AS feedback_at, feedback_source
FROM feedback_once
QUALIFY row_number() OVER (
    PARTITION BY request_id
    ORDER BY (feedback_source = 'adjudication') DESC, "timestamp" DESC, feedback_id DESC
) = 1;

CREATE OR REPLACE VIEW model_performance_live AS
WITH results AS (
    SELECT *
    FROM inference_log
    QUALIFY row_number() OVER (PARTITION BY request_id, arm ORDER BY stream_sequence) = 1
)
SELECT
    r.request_id,
    r.client_request_id,
    r.experiment,
    r.arm,
    r.served,
    r.served_model_name,
    r.model_version,
    r.configured_split,
    r.status_code,
    r.predicted_label AS prediction,
    r.probability,
    r.threshold,
    r.execution_time_ms,
    r.completed_at AS predicted_at,
    CAST(r.completed_at AS DATE) AS date,
    v.ground_truth,
    v.feedback_id,
    v.feedback_at,
    CASE WHEN v.ground_truth IS NULL OR r.status_code <> 200 THEN NULL
         ELSE r.predicted_label = v.ground_truth END AS is_correct,
    CASE WHEN v.ground_truth IS NULL OR r.status_code <> 200 THEN NULL
         WHEN r.predicted_label = 'PNEUMONIA' AND v.ground_truth = 'PNEUMONIA' THEN 'TP'
         WHEN r.predicted_label = 'PNEUMONIA' AND v.ground_truth = 'NORMAL' THEN 'FP'
         WHEN r.predicted_label = 'NORMAL' AND v.ground_truth = 'NORMAL' THEN 'TN'
         ELSE 'FN' END AS confusion
FROM results r
LEFT JOIN verdicts v USING (request_id);
