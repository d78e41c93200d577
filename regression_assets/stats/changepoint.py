"""Locating and judging changes in a series: a windowed scan for steps, judged on its segments.

This is the project's detector: `regression-assets detect` (default method), the benchmark and the
`regression_alerts` asset all call `detect_changes`.
"""

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import stats as sps

from regression_assets.stats.detectors import SCALE_CHANGE, is_scale_change
from regression_assets.stats.mixture import demode_modes
from regression_assets.stats.series import clean_points

DAY_NS = 86_400 * 10**9
WEEK_NS = 7 * DAY_NS
RESULT_COLUMNS = ["timestamp", "direction", "magnitude_pct", "probability", "t_value", "lo80_pct", "hi80_pct",
                  "n_before", "n_after"]


@dataclass(frozen=True)
class ScanConfig:
    back_days: float = 14.0  # window before a candidate boundary
    fore_days: float = 7.0  # window after it
    back_max_pushes: int = 40  # ... but at most this many pushes
    # ... and at least this many points, reaching back up to back_reach_days: on a sparse series a
    # data gap before a change leaves its 14-day window with 1-3 points, too few to judge, and only
    # the long scan saw it, at its threshold (an alert coming and going: bench/EXPERIMENTS.md,
    # session 12). 0: off.
    back_min_points: int = 8
    back_reach_days: float = 28.0
    fore_max_pushes: int = 20
    min_before: int = 4  # points needed on each side to judge
    min_after: int = 3
    t_threshold: float = 4.05  # scan statistic a candidate must reach
    tail_min_after: int = 2  # at the series' end, fewer points after suffice ...
    tail_t_threshold: float = 9.0  # ... when the scan statistic reaches this
    min_change_pct: float = 2.0  # magnitude gate, as Perfherder's
    min_probability: float = 0.8  # P(|change| ≥ gate, in the found direction)
    # A change this far before the series' end has its windows all seen (7 days after it; 14 for the
    # long scan): the data around it will not change, so it needs less certainty than a new alert,
    # which tomorrow's runs can still overturn. An old alert flickering around P = 0.8 as new data
    # moved the noise floor is one the morning view counts as retracted (bench/EXPERIMENTS.md, session 6).
    old_age_days: float = 14.0
    old_min_probability: float = 0.7
    # A fresh change seen on this many runs or fewer, in the direction of the noise's long tail (the
    # before segment's quantile skewness at least `skewed_noise`: slow runs, say), needs this: three
    # runs in a row from a log-normal tail passed at P 0.94 and were retracted on the next mornings.
    tail_few_runs: int = 4
    skewed_noise: float = 0.25
    tail_min_probability: float = 0.95
    separation_days: float = 5.0  # non-maximum suppression radius
    separation_pushes: int = 20  # ... and this many pushes (dense series)
    merge_days: float = 14.0  # same-direction candidates closer than this are one (slow) change
    merge_pushes: int = 60  # ... and this many pushes
    # Candidates up to this far apart are one change too when the level between them climbs (a long
    # ramp seen as two candidates); a flat level between them means two steps.
    ramp_merge_days: float = 21.0
    ramp_merge_pushes: int = 100
    # Neighbouring same-direction changes up to this far apart that each fail are judged as one (a ramp
    # judged in two halves: session 12). 0: off.
    rescue_merge_days: float = 21.0
    segment_cap_days: float = 30.0  # how far a segment reaches when judging a change
    mad_threshold: float = 5.0
    refine_days: float = 3.0  # a step's location is refined within ± this of its scan peak
    refine_span_days: float = 7.0  # over segments reaching this far either side (clipped at neighbours)
    refine_min_points: int = 12  # and holding at least this many points either side
    # ... weighing each boundary by the time since the point before it (a change is as likely on any
    # day, so one between two runs a week apart more likely fell in the week than between two runs an
    # hour apart): the best split then lands after a data gap, where the contract puts it, not on the
    # last run before it (bench/EXPERIMENTS.md, session 18). False: the likelihood alone.
    refine_gap_prior: bool = True
    refine_gap_days: float = 1.0  # ... for a boundary spanning more than this and ...
    refine_gap_spacings: float = 4.0  # ... this many of the series' median spacings
    # A second scan with windows twice as long, for slow changes (ramps over 10-30 days) that no
    # 14/7-day window sees whole. Its candidates count only where the short scan found nothing
    # within `long_fore_days`, and at a higher threshold (its windows mix more of any drift).
    long_back_days: float = 28.0  # 0 turns it off
    long_fore_days: float = 14.0
    long_back_max_pushes: int = 80
    long_fore_max_pushes: int = 40
    long_t_threshold: float = 5.85
    # A candidate whose fore window runs past the series' end (a fresh change, seen on part of its
    # window), or whose back window runs past its start, must reach this instead of t_threshold: most
    # alerts that the next mornings retracted were fresh ones at t 4.5-6 (bench/EXPERIMENTS.md).
    fresh_t_threshold: float = 5.5
    # "Outliers" that recur at one offset from the level, this share of the runs (of the series, or
    # of the last `recurring_points` before the end), are a second mode (`_unflag_recurring`), and
    # the last runs landing at that offset are not a new level (`_unflag_tail`).
    recurring_points: int = 100
    recurring_share: float = 0.05
    # Hysteresis without state: a change under the probability gate but at P >= hold_probability stays
    # reported if the series as it stood hold_days (or twice that) earlier reported it at P >=
    # min_probability, within hold_tolerance_days. A true change near the gate (2.0-2.5 %) has a P
    # that hovers around it for weeks, and its alert came and went (bench/EXPERIMENTS.md, session 13).
    # 0 turns it off.
    hold_days: float = 2.0
    hold_probability: float = 0.5
    hold_tolerance_days: float = 7.0
    # On a multi-modal series, a fresh change is not reported while every run after it sits within this
    # many (of the modes' largest) sds of a mode's place around the level before it (or of its mirror
    # image: the level there may be one mode gap off). The demoded level is one-sided at the series'
    # end, and runs switching modes there passed as a 3 % step at P 0.92-0.99, gone the next morning
    # (bench/EXPERIMENTS.md, session 15). 0 turns it off.
    mode_flip_sds: float = 3.0
    # The noise floor of a boundary this far before the series' end is that of the series up to this
    # many days after it (on a weekly grid), not of the whole series: a new step's runs moved the whole
    # series' floor by 2 %, and an old ramp's candidate at t 4.09 fell to 4.02 (its alert moved by 14
    # days, two months after the ramp: bench/EXPERIMENTS.md, session 16). 0: the whole series' floor.
    noise_settle_days: float = 28.0


def _noise_scale(x: np.ndarray) -> float:
    """Point-to-point noise from successive differences: unaffected by steps and slow drift."""
    if len(x) < 3:
        return float(np.std(x)) or 1e-6
    d = np.diff(x)
    s = 1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2.0)
    return float(max(s, 1e-6))


@dataclass(frozen=True)
class _NoiseFloors:
    """`_noise_scale` of the series up to `noise_settle_days` after a time (rounded up to a week on a fixed
    grid), or of the whole series where that is past its end: a boundary's noise floor that no later data
    can move once it is that old. Computed once per series, one figure per week."""

    whole: float
    settle_ns: float
    first_week: int = 0
    weekly: np.ndarray | None = None  # the figure for each week index from first_week on

    @classmethod
    def of(cls, t: np.ndarray, x: np.ndarray, cfg: ScanConfig) -> "_NoiseFloors":
        whole = _noise_scale(x)
        if cfg.noise_settle_days <= 0 or len(t) < 2:
            return cls(whole, 0.0)
        settle = cfg.noise_settle_days * DAY_NS
        first, last = int(np.ceil((t[1] + settle) / WEEK_NS)), int(np.floor(t[-1] / WEEK_NS))
        weekly = np.array([_noise_scale(x[t < k * WEEK_NS]) for k in range(first, last + 1)])
        return cls(whole, settle, first, weekly)

    def at(self, times: np.ndarray) -> np.ndarray:
        times = np.asarray(times, dtype=float)
        out = np.full(times.shape, self.whole)
        if self.weekly is None or len(self.weekly) == 0:
            return out
        k = np.ceil((times + self.settle_ns) / WEEK_NS).astype(np.int64) - self.first_week
        ok = (k >= 0) & (k < len(self.weekly))
        out[ok] = self.weekly[k[ok]]
        return out


def _quantile_skewness(x: np.ndarray) -> float:
    """(q90 + q10 - 2 q50) / (q90 - q10): > 0 for a long upper tail; about 0.47 for log-normal (σ 0.8) noise."""
    if len(x) < 10:
        return 0.0
    q10, q50, q90 = np.quantile(x, [0.1, 0.5, 0.9])
    return float((q90 + q10 - 2.0 * q50) / (q90 - q10)) if q90 > q10 else 0.0


def _window_sums(t: np.ndarray, x: np.ndarray, lo: np.ndarray, hi: np.ndarray):
    """Counts, means and variances of x over [lo, hi) time intervals (t sorted)."""
    c1 = np.r_[0.0, np.cumsum(x)]
    c2 = np.r_[0.0, np.cumsum(x * x)]
    a = np.searchsorted(t, lo, side="left")
    b = np.searchsorted(t, hi, side="left")
    n = (b - a).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (c1[b] - c1[a]) / n
        var = (c2[b] - c2[a]) / n - mean**2
    return n, mean, np.maximum(var, 0.0)


def scan(t: np.ndarray, x: np.ndarray, cfg: ScanConfig, floors: _NoiseFloors | None = None) -> pd.DataFrame:
    """The scan statistic at every push boundary (`t`, `delta`), and that of the long scan (`t_long`, ...)."""
    floors = floors or _NoiseFloors.of(t, x, cfg)
    sc = _scan_windows(t, x, cfg, floors)
    if cfg.long_back_days > 0 and len(sc):
        long_cfg = replace(cfg, back_days=cfg.long_back_days, fore_days=cfg.long_fore_days,
                           back_max_pushes=cfg.long_back_max_pushes, fore_max_pushes=cfg.long_fore_max_pushes)
        long = _scan_windows(t, x, long_cfg, floors)
        sc["t_long"], sc["delta_long"] = long["t"].to_numpy(), long["delta"].to_numpy()
    return sc


def _scan_windows(t: np.ndarray, x: np.ndarray, cfg: ScanConfig,
                  floors: _NoiseFloors | None = None) -> pd.DataFrame:
    """Welch's t of the mean log-value after vs before every push boundary, over cfg's windows."""
    pushes, first_idx = np.unique(t, return_index=True)
    if len(pushes) < 2:
        return pd.DataFrame(columns=["boundary", "time", "t", "delta", "n_before", "n_after", "complete"])
    tb = pushes[1:]
    # Windows in days, capped in pushes: on a dense series (a point per push, many pushes a day) a
    # day window would hold hundreds of points and blur changes a few dozen pushes apart.
    i = np.arange(1, len(pushes))
    lo = np.maximum(tb - cfg.back_days * DAY_NS, pushes[np.maximum(i - cfg.back_max_pushes, 0)])
    if cfg.back_min_points > 0:
        reach = t[np.maximum(first_idx[1:] - cfg.back_min_points, 0)]
        lo = np.minimum(lo, np.maximum(reach, tb - cfg.back_reach_days * DAY_NS))
    hi_cap = np.where(i + cfg.fore_max_pushes < len(pushes),
                      pushes[np.minimum(i + cfg.fore_max_pushes, len(pushes) - 1)], np.inf)
    hi = np.minimum(tb + cfg.fore_days * DAY_NS, hi_cap)
    nb, mb, vb = _window_sums(t, x, lo, tb)
    na, ma, va = _window_sums(t, x, tb, hi)
    # Welch's t with each window's own variance (floored at the series' point-to-point noise): the
    # windows' spread includes whatever the noise really is (heavy tails, modes), a global robust
    # scale would not.
    floor = (floors or _NoiseFloors.of(t, x, cfg)).at(tb) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        tstat = (ma - mb) / np.sqrt(np.maximum(vb, floor) / nb + np.maximum(va, floor) / na)
    # At the end of the series (the fore window runs past the last point), a change seen on only
    # tail_min_after points counts when its t is far beyond the threshold: fresh alerts a run or
    # two earlier, only when the evidence is strong enough not to be retracted.
    fore_seen = hi <= pushes[-1]  # the fore window is all seen (not cut short by the series' end)
    at_tail = (na >= cfg.tail_min_after) & (na < cfg.min_after) & ~fore_seen
    ok = (nb >= cfg.min_before) & ((na >= cfg.min_after) | (at_tail & (np.abs(tstat) >= cfg.tail_t_threshold)))
    tstat = np.where(ok, tstat, 0.0)
    # ... and the back window not cut short by its start (a candidate a few points into a series is
    # judged on as little as a fresh one)
    complete = fore_seen & ((tb - cfg.back_days * DAY_NS >= pushes[0]) | (i >= cfg.back_max_pushes))
    return pd.DataFrame({"boundary": first_idx[1:], "time": tb, "t": tstat, "delta": ma - mb,
                         "n_before": nb, "n_after": na, "complete": complete})


def _pick_candidates(sc: pd.DataFrame, cfg: ScanConfig) -> list[int]:
    """Boundaries that are the largest |t| within ±separation_days and pass the thresholds."""
    need = np.where(sc["complete"], cfg.t_threshold, max(cfg.t_threshold, cfg.fresh_t_threshold))
    strong = sc[(np.abs(sc["t"]) >= need)
                & (100.0 * np.abs(np.expm1(sc["delta"])) >= cfg.min_change_pct * 0.5)]
    picked: list[int] = []
    times = sc["time"].to_numpy()
    for i in strong.reindex(strong["t"].abs().sort_values(ascending=False).index).index:
        # suppressed if within separation_days *and* separation_pushes of a stronger one
        if all(abs(times[i] - times[j]) > cfg.separation_days * DAY_NS or abs(i - j) > cfg.separation_pushes
               for j in picked):
            picked.append(i)
    if "t_long" in sc:
        slow = sc[(np.abs(sc["t_long"]) >= cfg.long_t_threshold)
                  & (100.0 * np.abs(np.expm1(sc["delta_long"])) >= cfg.min_change_pct * 0.5)]
        extra: list[int] = []
        for i in slow.reindex(slow["t_long"].abs().sort_values(ascending=False).index).index:
            # only once its whole fore window is seen: a slow change is no emergency, and a long
            # window cut short by the series' end is what made fresh ones come and go
            if times[i] + cfg.long_fore_days * DAY_NS > times[-1]:
                continue
            if all(abs(times[i] - times[j]) > cfg.long_fore_days * DAY_NS for j in picked + extra):
                extra.append(i)
        picked += extra
    return sorted(picked, key=lambda i: times[i])


def _found_by_short_scan(sc: pd.DataFrame, i: int, cfg: ScanConfig) -> bool:
    """Whether the short scan found candidate i (else only the long scan did)."""
    return abs(float(sc["t"].iat[i])) >= cfg.t_threshold or "t_long" not in sc


def _t_value(sc: pd.DataFrame, i: int, cfg: ScanConfig) -> float:
    """The scan statistic that found candidate i: the short scan's, or the long scan's if only it did."""
    return float(sc["t"].iat[i] if _found_by_short_scan(sc, i, cfg) else sc["t_long"].iat[i])


def _segment_before(t: np.ndarray, x: np.ndarray, start: float, cp: float, cfg: ScanConfig) -> np.ndarray:
    """The points a change at `cp` is judged against: back to the previous change, at most segment_cap_days."""
    return x[(t >= max(start, cp - cfg.segment_cap_days * DAY_NS)) & (t < cp)]


def _segment_after(t: np.ndarray, x: np.ndarray, cp: float, end: float, cfg: ScanConfig) -> np.ndarray:
    """The points after a change at `cp`: up to the next change, at most segment_cap_days."""
    return x[(t >= cp) & (t < min(end, cp + cfg.segment_cap_days * DAY_NS))]


def _judge(t: np.ndarray, x: np.ndarray, start: float, cp: float, end: float, scale: float,
           cfg: ScanConfig) -> tuple[float, float, float, float, int, int]:
    """Δ (log), its 80% interval and P(|change| ≥ gate in Δ's direction) from the two segments."""
    before, after = _segment_before(t, x, start, cp, cfg), _segment_after(t, x, cp, end, cfg)
    tail = end == np.inf and len(after) == int((t >= cp).sum())  # the after segment ends the series
    if len(before) < cfg.min_before or len(after) < (cfg.tail_min_after if tail else cfg.min_after):
        return 0.0, 0.0, 0.0, 0.0, len(before), len(after)
    # Trimmed means: heavy tails and the odd unflagged outlier should not move the estimate.
    mb, ma = sps.trim_mean(before, 0.1), sps.trim_mean(after, 0.1)
    sb = max(scale, float(np.std(before, ddof=1)))
    sa = max(scale, float(np.std(after, ddof=1)))
    se = np.sqrt(sb**2 / len(before) + sa**2 / len(after))
    delta = ma - mb
    if tail and t[-1] < cp + cfg.fore_days * DAY_NS:
        # A fresh change, seen on a few points: one or two runs from a skewed noise's long tail move
        # their mean, not their median. Count only the part of the change the medians agree with.
        agreed = np.sign(delta) * (np.median(after) - np.median(before))
        delta = float(np.sign(delta) * min(abs(delta), max(agreed, 0.0)))
    gate = np.log1p(cfg.min_change_pct / 100.0)
    df = max(min(len(before), len(after)) - 1, 1)
    prob = float(sps.t.cdf((abs(delta) - gate) / se, df))
    lo, hi = delta + sps.t.ppf([0.1, 0.9], df) * se
    return float(delta), float(lo), float(hi), prob, len(before), len(after)


def _judge_group(t: np.ndarray, x: np.ndarray, start: float, cp: float, cp_last: float, end: float,
                 scale: float, cfg: ScanConfig) -> tuple[float, float, float, float, int, int]:
    """`_judge` for a change found as candidates cp .. cp_last: a ramp is judged from before its first
    candidate to after its last one (the interval and probability those of the last one's split)."""
    delta, lo, hi, prob, nb, na = _judge(t, x, start, cp, end, scale, cfg)
    if cp_last != cp:
        d2, lo2, hi2, p2, _, na = _judge(t, x, start, cp_last, end, scale, cfg)
        before, after = _segment_before(t, x, start, cp, cfg), _segment_after(t, x, cp_last, end, cfg)
        if len(before) and len(after):
            shift = sps.trim_mean(after, 0.1) - sps.trim_mean(before, 0.1) - d2
            delta, lo, hi, prob = d2 + shift, lo2 + shift, hi2 + shift, p2
    return delta, lo, hi, prob, nb, na


def _group_candidates(t: np.ndarray, x: np.ndarray, sc: pd.DataFrame, cands: list[int],
                      cfg: ScanConfig) -> list[list[int]]:
    """Group same-direction candidates closer than `merge_days`: one slow change, or one step.

    Between two such candidates the level tells which: if it already sits near the final level, the
    later candidate is an echo of the earlier step; near the initial level, the earlier one is the
    echo (a big step leaks into the scan windows up to `fore_days` before it; further back, the two
    are separate changes, or a ramp's slow start if the level climbs between them); in between, it is
    a ramp, reported at its start.
    """
    times = sc["time"].to_numpy()
    groups: list[list[int]] = []
    for i in cands:
        if not groups or np.sign(sc["t"].iat[i]) != np.sign(sc["t"].iat[groups[-1][-1]]) or \
                times[i] - times[groups[-1][-1]] > cfg.ramp_merge_days * DAY_NS or \
                i - groups[-1][-1] > cfg.ramp_merge_pushes:
            groups.append([i])
            continue
        g = groups[-1]
        far = times[i] - times[g[-1]] > cfg.merge_days * DAY_NS or i - g[-1] > cfg.merge_pushes
        first, last = times[g[0]], times[i]
        before = x[(t >= first - cfg.back_days * DAY_NS) & (t < first)]
        middle = x[(t >= first) & (t < last)]
        after = x[(t >= last) & (t < last + cfg.fore_days * DAY_NS)]
        if len(before) == 0 or len(middle) == 0 or len(after) == 0:
            if far:
                groups.append([i])
            else:
                g.append(i)
            continue
        mb, mm, ma = np.median(before), np.median(middle), np.median(after)
        # a climbing level: the middle's later half a tenth of the way further towards the final
        # level than its earlier half
        half = len(middle) // 2
        climbs = half > 0 and ma != mb and \
            (np.median(middle[half:]) - np.median(middle[:half])) / (ma - mb) >= 0.1
        if far and not climbs:
            groups.append([i])  # beyond merge_days only a climbing level joins them
            continue
        frac = (mm - mb) / (ma - mb) if ma != mb else 0.5
        if frac < 0.35:
            if times[i] - times[g[-1]] <= cfg.fore_days * DAY_NS:
                # the last candidate was this one's echo; a ramp's earlier candidates stay
                groups[-1] = g[:-1] + [i]
            elif climbs:
                # the earlier candidate's windows never saw this change, but the level climbs between
                # them: a ramp's slow start, one change with it (taken for a step of its own, three
                # tuning ramps were reported twice: bench/EXPERIMENTS.md, session 9)
                g.append(i)
            else:
                # ... and it stays flat: a change of its own (a small step a week or two before a
                # big one), judged on its own
                groups.append([i])
        elif frac > 0.65:
            continue  # this one is the echo
        else:
            g.append(i)
    return groups


def _gap_unit(t: np.ndarray, cfg: ScanConfig) -> float:
    """The span past which a boundary counts as a data gap in `_refine`: a day, and several times the
    series' usual spacing (between runs a few hours apart the spacing is noise, and would move a step by
    a day on heavy-tailed noise). Once per series, not per candidate."""
    return max(cfg.refine_gap_days * DAY_NS, cfg.refine_gap_spacings * float(np.median(np.diff(t))), 1.0)


def _refine(t: np.ndarray, x: np.ndarray, cp: float, lo_bound: float, hi_bound: float,
            cfg: ScanConfig, gap_unit: float) -> float:
    """The push boundary within ±refine_days of `cp` that best splits the points around it in two.

    The scan's peak is a noisy location (its windows are asymmetric and each side's variance is
    estimated from few points); the boundary maximising the two-segment Gaussian likelihood (equal
    variances: the largest n1 n2 / n (m1 - m2)^2) over a fixed stretch around it is a steadier one.
    The stretch (days, but at least a few points: sparse series) stops at the neighbouring changes.
    With `refine_gap_prior`, a boundary after a data gap also counts the time it spans past `gap_unit`
    (a prior uniform in time), so a change inside the gap is placed after it.
    """
    i = int(np.searchsorted(t, cp, side="left"))
    a = min(int(np.searchsorted(t, cp - cfg.refine_span_days * DAY_NS, side="left")), i - cfg.refine_min_points)
    b = max(int(np.searchsorted(t, cp + cfg.refine_span_days * DAY_NS, side="left")), i + cfg.refine_min_points)
    a = max(a, int(np.searchsorted(t, lo_bound, side="left")), 0)
    b = min(b, int(np.searchsorted(t, hi_bound, side="left")), len(t))
    seg_t, seg_x = t[a:b], x[a:b]
    n = len(seg_x)
    if n < cfg.min_before + cfg.min_after:
        return cp
    c = np.cumsum(seg_x)
    k = np.arange(1, n)  # split before seg index k
    # push boundaries only (a push's points stay together), within ±refine_days of cp
    # the radius: refine_days, widened to reach a few points either side on sparse series
    j = np.searchsorted(seg_t, cp, side="left")
    lo_t = min(cp - cfg.refine_days * DAY_NS, seg_t[max(j - cfg.refine_min_points // 2, 0)])
    hi_t = max(cp + cfg.refine_days * DAY_NS, seg_t[min(j + cfg.refine_min_points // 2, n - 1)])
    ok = (seg_t[k] != seg_t[k - 1]) & (seg_t[k] >= lo_t) & (seg_t[k] <= hi_t) \
        & (k >= cfg.min_before) & (n - k >= cfg.min_after)
    if not ok.any():
        return cp
    m1 = c[k - 1] / k
    m2 = (c[-1] - c[k - 1]) / (n - k)
    gain = np.where(ok, k * (n - k) / n * (m1 - m2) ** 2, -np.inf)
    if cfg.refine_gap_prior:
        # log posterior = log likelihood ratio (gain / 2 sigma^2, sigma^2 the residual variance of the
        # best split) + log prior (the time the change could have happened in)
        sigma2 = max((float(np.sum((seg_x - c[-1] / n) ** 2)) - float(gain.max())) / max(n - 2, 1), 1e-12)
        gain = gain / (2.0 * sigma2) + np.log(np.maximum(seg_t[k] - seg_t[k - 1], gap_unit) / gap_unit)
    return float(seg_t[k[int(np.argmax(gain))]])


def _unflag_recurring(pts: pd.DataFrame, cfg: ScanConfig) -> pd.DataFrame:
    """Un-flag "outliers" that recur at one offset from the level: they are a second mode.

    The outlier rule judges each point against the medians of its neighbours, so a well-separated
    mode that a quarter of the runs land in is flagged point by point, and the series looks unimodal
    until a few runs in a row land there (at the end of a series: a fresh "step"). Flagged points
    whose robust z lies within ±35% of the median z of the flagged points on the same side, if they
    are at least `recurring_share` of all points, are restored, so `demode` sees the mode.
    """
    ok = ~pts["invalid"].to_numpy()
    flagged = pts["is_outlier"].to_numpy() & ok
    n = int(ok.sum())
    if flagged.sum() < max(3, cfg.recurring_share * n):
        return pts
    z = pts["robust_z"].to_numpy()
    restore = np.zeros(len(pts), bool)
    for side in (1.0, -1.0):
        on_side = flagged & (np.sign(z) == side)
        if not on_side.any():
            continue
        centre = float(np.median(z[on_side]))
        near = on_side & (np.abs(z - centre) <= 0.35 * abs(centre))
        if near.sum() >= cfg.recurring_share * n:
            restore |= near
    if not restore.any():
        return pts
    pts = pts.copy()
    pts.loc[restore, "is_outlier"] = False
    return pts


def _unflag_tail(pts: pd.DataFrame, cfg: ScanConfig) -> pd.DataFrame:
    """Re-judge the outlier flags of the last points of a series against the series' tail.

    The forward median of the outlier rule needs 3 points ahead, so the last 2 points are judged
    against the points *before* them only: the first 2 points after a large step at the end of a
    series are taken for outliers and dropped, which delays every fresh alert by two runs. Here they
    are also judged against the median of the last 3 points (themselves included): a lone spike
    stays an outlier, a new level does not.
    """
    ok = ~pts["invalid"].to_numpy()
    idx = np.flatnonzero(ok)
    if len(idx) < 6:
        return pts
    x = pts["log_value"].to_numpy()[idx]
    d = np.abs(np.diff(x))
    scale = 1.4826 * float(np.median(d)) / np.sqrt(2.0)
    if not np.isfinite(scale) or scale <= 0:
        return pts
    med = float(np.median(x[-3:]))
    z_tail = (x[-2:] - med) / scale
    keep = np.abs(z_tail) <= cfg.mad_threshold
    # ... unless the series has been there before and back, again and again: a well-separated second
    # mode (a state some runs land in) is flagged point by point by the outlier rule, and the last
    # three runs landing in it are not a new level.
    z = pts["robust_z"].to_numpy()[idx]
    recent = slice(max(len(idx) - 2 - cfg.recurring_points, 0), len(idx) - 2)
    z_out = z[recent][pts["is_outlier"].to_numpy()[idx][recent]]  # the recent runs' outliers
    need = max(3, cfg.recurring_share * (recent.stop - recent.start))
    for j in range(2):
        if (np.abs(z_out - z[-2 + j]) <= cfg.mad_threshold / 2).sum() >= need:
            keep[j] = False
    if not keep.any():
        return pts
    pts = pts.copy()
    col = pts.columns.get_loc("is_outlier")
    for j, k in zip(idx[-2:], keep, strict=True):
        if k:
            pts.iloc[j, col] = False
    return pts


def _verdict(t: np.ndarray, x: np.ndarray, start: float, cp: float, cp_last: float, end: float, scale: float,
             lower_is_better: bool, cfg: ScanConfig, need: float | None = None,
             modes: tuple[np.ndarray, np.ndarray, float] | None = None) -> dict | None:
    """The alert for a change found as candidates cp .. cp_last (its row but t_value), or None if it fails."""
    delta, lo, hi, prob, nb, na = _judge_group(t, x, start, cp, cp_last, end, scale, cfg)
    pct = 100.0 * np.expm1(delta)
    old = t[-1] - cp >= cfg.old_age_days * DAY_NS
    if need is None:
        need = cfg.old_min_probability if old else cfg.min_probability
    fresh = t[-1] < cp + cfg.fore_days * DAY_NS  # its fore window runs past the series' end
    if na <= cfg.tail_few_runs and fresh:
        if np.sign(delta) * _quantile_skewness(_segment_before(t, x, start, cp, cfg)) >= cfg.skewed_noise:
            need = max(need, cfg.tail_min_probability)
    if abs(pct) < cfg.min_change_pct or prob < need:
        return None
    if fresh and modes is not None and _modes_explain(t, x, start, cp, end, modes, cfg):
        return None
    worse = (pct > 0) == bool(lower_is_better)
    direction = SCALE_CHANGE if is_scale_change(pct) else "regression" if worse else "improvement"
    return {"timestamp": pd.Timestamp(int(cp)), "direction": direction, "magnitude_pct": pct, "probability": prob,
            "lo80_pct": 100.0 * np.expm1(lo), "hi80_pct": 100.0 * np.expm1(hi), "n_before": nb, "n_after": na}


def _modes_explain(t: np.ndarray, x: np.ndarray, start: float, cp: float, end: float,
                   modes: tuple[np.ndarray, np.ndarray, float], cfg: ScanConfig) -> bool:
    """Whether every run after `cp` sits at one of the series' modes around the level before it: runs
    switching modes, not a change (`ScanConfig.mode_flip_sds`). `modes`: the log values before demoding,
    the modes' offsets and their largest sd (`demode_modes`)."""
    raw, offsets, spread = modes
    if cfg.mode_flip_sds <= 0 or len(offsets) < 2:
        return False
    after = raw[(t >= cp) & (t < end)]
    if len(after) == 0:
        return False
    places = np.median(_segment_before(t, x, start, cp, cfg)) + np.unique(np.r_[offsets, -offsets])
    return bool(np.all(np.min(np.abs(after[:, None] - places[None, :]), axis=1) <= cfg.mode_flip_sds * spread))


def _between(bounds: list[float], before: int, after: int) -> tuple[float, float]:
    """The change points of groups `before` and `after` (±inf past either end): what a change between
    them is judged within."""
    return (bounds[before] if before >= 0 else -np.inf), (bounds[after] if after < len(bounds) else np.inf)


def _reported_earlier(timestamps: np.ndarray, values: np.ndarray, lower_is_better: bool, held: list[dict],
                      cfg: ScanConfig) -> list[dict]:
    """The rows of `held` that the series as it stood hold_days and 2 hold_days earlier reported at
    P >= min_probability (same direction, within hold_tolerance_days). The day's partition sees only its
    own data, so "was it an alert the days before" is answered by judging those days' data again."""
    ts = np.asarray(timestamps).astype("datetime64[ns]")
    vals = np.asarray(values)
    tol = cfg.hold_tolerance_days * DAY_NS
    kept, left = [], held
    for m in (1, 2):  # the data of 2 days earlier first; 4 days only for what they did not report
        keep = ts < ts.max() - np.timedelta64(int(m * cfg.hold_days * DAY_NS), "ns")
        e = detect_changes(ts[keep], vals[keep], lower_is_better, replace(cfg, hold_days=0.0))
        e = e[e["probability"] >= cfg.min_probability]  # reported with confidence, not held or old-gated itself
        e_ts = pd.to_datetime(e["timestamp"]).to_numpy(dtype="datetime64[ns]").astype(np.int64)
        e_dir = e["direction"].to_numpy(dtype=object)
        seen = [bool(np.any((e_dir == r["direction"]) & (np.abs(e_ts - r["timestamp"].value) <= tol))) for r in left]
        kept += [r for r, y in zip(left, seen, strict=True) if y]
        left = [r for r, y in zip(left, seen, strict=True) if not y]
        if not left:
            break
    return kept


def detect_changes(timestamps: np.ndarray, values: np.ndarray, lower_is_better: bool = True,
                   config: ScanConfig | None = None) -> pd.DataFrame:
    """Changes in one series: one row per change, at the first data point after it.

    Columns: RESULT_COLUMNS. `probability` is P(the change is at least the magnitude gate, in the
    reported direction) from the segments either side (at least min_probability, or old_min_probability
    for a change 14 days old; a change reported so on the data of the days before stays while it is at
    least hold_probability); `magnitude_pct` its point estimate. `direction`
    is "regression", "improvement", or "scale_change" for a level that moved by 50x or more (a unit
    change or a broken test: see `detectors.SCALE_CHANGE_FACTOR`). Non-finite and non-positive values
    are ignored (the scan works on log values).
    """
    cfg = config or ScanConfig()
    pts = clean_points(np.asarray(timestamps), np.asarray(values), mad_threshold=cfg.mad_threshold)
    pts = _unflag_tail(_unflag_recurring(pts, cfg), cfg)
    pts = pts[~pts["is_outlier"] & ~pts["invalid"]]
    if len(pts) < cfg.min_before + cfg.min_after:
        return pd.DataFrame(columns=RESULT_COLUMNS)
    t = pts["timestamp"].to_numpy().astype("datetime64[ns]").astype(np.int64).astype(float)
    raw = pts["log_value"].to_numpy()
    x, offsets, spread = demode_modes(raw)
    modes = (raw, offsets, spread)  # for _modes_explain
    floors = _NoiseFloors.of(t, x, cfg)
    sc = scan(t, x, cfg, floors)
    cands = _pick_candidates(sc, cfg)
    groups = _group_candidates(t, x, sc, cands, cfg)
    def scale(cp: float) -> float:  # the noise floor a change at cp is judged with
        return float(floors.at(np.array([cp]))[0])
    bounds = [sc["time"].iat[g[0]] for g in groups]
    gap_unit = _gap_unit(t, cfg)  # for _refine
    spans: list[tuple[float, float]] = []  # each group's (first, last) change point
    verdicts: list[dict | None] = []
    for k, g in enumerate(groups):
        cp, cp_last = sc["time"].iat[g[0]], sc["time"].iat[g[-1]]
        start, end = _between(bounds, k - 1, k + 1)
        # A step the short scan found is placed at the best split around it; a change only the long
        # scan saw is mostly a ramp, along whose slope the best split wanders as data arrives (an
        # alert moving by over a week: a retraction), so it stays at the long scan's peak.
        if len(g) == 1 and cfg.refine_days > 0 and _found_by_short_scan(sc, g[0], cfg):
            cp = cp_last = _refine(t, x, cp, start, end, cfg, gap_unit)
            bounds[k] = cp
        spans.append((cp, cp_last))
        verdicts.append(_verdict(t, x, start, cp, cp_last, end, scale(cp), lower_is_better, cfg, modes=modes))
    # Two neighbouring changes in one direction that each fail, but pass as one: a ramp whose
    # candidates the grouping took for two changes, each judged on half of the climb (an alert that
    # comes and goes as the grouping does).
    # groups the rescue judged together with their predecessor: never judged again with their successor
    absorbed: set[int] = set()
    if cfg.rescue_merge_days > 0:
        for k in range(len(groups) - 1):
            if k in absorbed or verdicts[k] is not None or verdicts[k + 1] is not None or \
                    np.sign(_t_value(sc, groups[k][0], cfg)) != np.sign(_t_value(sc, groups[k + 1][0], cfg)) or \
                    spans[k + 1][0] - spans[k][1] > cfg.rescue_merge_days * DAY_NS:
                continue
            start, end = _between(bounds, k - 1, k + 2)
            verdicts[k] = _verdict(t, x, start, spans[k][0], spans[k + 1][1], end, scale(spans[k][0]),
                                   lower_is_better, cfg, modes=modes)
            if verdicts[k] is not None:
                absorbed.add(k + 1)
    rows = [{**v, "t_value": _t_value(sc, g[0], cfg)} for v, g in zip(verdicts, groups, strict=True) if v]
    # A change that fails only the probability gate, but not by much, is held if it was reported on the
    # days before (hysteresis): see ScanConfig.hold_days.
    if cfg.hold_days > 0:
        held = []
        for k, g in enumerate(groups):
            if verdicts[k] is not None or k in absorbed:
                continue
            start, end = _between(bounds, k - 1, k + 1)
            v = _verdict(t, x, start, spans[k][0], spans[k][1], end, scale(spans[k][0]), lower_is_better, cfg,
                         need=cfg.hold_probability, modes=modes)
            if v is not None:
                held.append({**v, "t_value": _t_value(sc, g[0], cfg)})
        if held:
            rows = sorted(rows + _reported_earlier(timestamps, values, lower_is_better, held, cfg),
                          key=lambda r: r["timestamp"])
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)
