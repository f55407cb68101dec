-- model_comparison_daily: per day (of prediction), experiment, arm and model
-- version: traffic, feedback coverage, confusion matrix, accuracy,
-- sensitivity, specificity, and each arm's share of the day's served traffic
-- next to its configured split. Needs the model_performance_live view.
WITH daily AS (
    SELECT
        date,
        experiment,
        arm,
        served_model_name,
        model_version,
        any_value(configured_split) AS configured_split,
        count(*) FILTER (WHERE status_code = 200) AS predictions,
        count(*) FILTER (WHERE status_code = 200 AND served) AS served,
        count(is_correct) AS feedback,
        count(*) FILTER (WHERE confusion = 'TP') AS tp,
        count(*) FILTER (WHERE confusion = 'FP') AS fp,
        count(*) FILTER (WHERE confusion = 'TN') AS tn,
        count(*) FILTER (WHERE confusion = 'FN') AS fn,
        avg(CAST(is_correct AS INTEGER)) AS accuracy
    FROM model_performance_live
    GROUP BY ALL
)
SELECT
    date,
    experiment,
    arm,
    served_model_name,
    model_version,
    configured_split,
    predictions,
    served,
    round(served / nullif(sum(served) OVER (PARTITION BY date, experiment), 0), 4) AS traffic_actual,
    feedback,
    round(feedback / nullif(predictions, 0), 4) AS coverage,
    tp, fp, tn, fn,
    round(accuracy, 4) AS accuracy,
    round(tp / nullif(tp + fn, 0), 4) AS sensitivity,
    round(tn / nullif(tn + fp, 0), 4) AS specificity
FROM daily
ORDER BY date, experiment, arm, served_model_name, model_version;
