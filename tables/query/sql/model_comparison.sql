-- model_comparison: per experiment and arm, over all time, the numbers the
-- evaluator publishes live (GET /v1/metrics, metrics.<experiment>.model.<arm>).
-- Needs the model_performance_live view.
SELECT
    experiment,
    arm,
    string_agg(DISTINCT served_model_name || ':' || model_version, ', ' ORDER BY served_model_name || ':' || model_version) AS models,
    count(*) FILTER (WHERE status_code = 200) AS predictions,
    count(*) FILTER (WHERE status_code <> 200) AS errors,
    count(*) FILTER (WHERE status_code = 200 AND served) AS served,
    count(is_correct) AS feedback,
    count(*) FILTER (WHERE confusion = 'TP') AS tp,
    count(*) FILTER (WHERE confusion = 'FP') AS fp,
    count(*) FILTER (WHERE confusion = 'TN') AS tn,
    count(*) FILTER (WHERE confusion = 'FN') AS fn,
    round(count(is_correct) / nullif(count(*) FILTER (WHERE status_code = 200), 0), 4) AS coverage,
    round(avg(CAST(is_correct AS INTEGER)), 4) AS accuracy,
    round(count(*) FILTER (WHERE confusion = 'TP') / nullif(count(*) FILTER (WHERE confusion IN ('TP', 'FN')), 0), 4) AS sensitivity,
    round(count(*) FILTER (WHERE confusion = 'TN') / nullif(count(*) FILTER (WHERE confusion IN ('TN', 'FP')), 0), 4) AS specificity
FROM model_performance_live
GROUP BY experiment, arm
ORDER BY experiment, arm;
