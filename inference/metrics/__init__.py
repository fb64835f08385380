"""Metric maths per task for the live side (pure: numpy, scipy and scikit-learn only, no
Django). Row-level metrics are registry/task_metrics.py's, shared with the hold-out
evaluation; this package adds what the comparison needs on top of them:

- `counts`: the same metrics from what the roll-ups keep (per-class (predicted, actual)
  counts, fed to scikit-learn as sample weights; sums of errors), and the intervals;
- `differences`: the tests of a challenger against the champion per task, and their power.
"""
