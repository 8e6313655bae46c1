import { describe, expect, it } from 'vitest';
import { promqlMetricNames } from './promql-metric-names.js';

describe('promqlMetricNames', () => {
  it('finds the metrics and skips functions, labels, ranges, keywords, numbers and variables', () => {
    expect(
      promqlMetricNames(
        'histogram_quantile(0.99, sum by (le) (rate(rungate_push_latency_seconds_bucket{job=~"$job", result="x_y"}[$__rate_interval])))',
      ),
    ).toEqual(['rungate_push_latency_seconds_bucket']);
    expect(
      promqlMetricNames('sum(rate(a_total[5m])) / clamp_min(sum without (instance) (rate(b_total{x="1"}[5m] offset 1h)), 1e-9) > bool 0'),
    ).toEqual(['a_total', 'b_total']);
    expect(promqlMetricNames('max by (status) (up) * on (instance) group_left (version) nodejs_version_info')).toEqual(['up', 'nodejs_version_info']);
    expect(promqlMetricNames('sum(x) by (le) and ignoring(job) y unless z')).toEqual(['x', 'y', 'z']);
  });
});
