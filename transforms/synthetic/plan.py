"""The plan of the synthetic year: small tables computed on the driver from the
generator's parameters (conf/generator.yaml) and the model catalog.

Pure Python on plain values: a few thousand numbers (weeks x models, months x
cohorts), never rows of data. `transforms.synthetic` turns the plan into columns
over `spark.range`. `expected_figures` gives the study figures the plan implies,
so a parameter change can be checked before generating anything.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

DAY = dt.timedelta(days=1)


def _date(value) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def normalised(weights: dict) -> dict:
    """Weights scaled to sum to 1 (zeros and negatives dropped)."""
    total = sum(w for w in weights.values() if w > 0)
    return {k: w / total for k, w in weights.items() if w > 0} if total else {}


def mix(early: dict, late: dict, frac: float) -> dict:
    """Linear interpolation of two (unnormalised) mixes, normalised."""
    first, last = normalised(early), normalised(late)
    return normalised({k: (1 - frac) * first.get(k, 0.0) + frac * last.get(k, 0.0) for k in sorted(set(first) | set(last))})


@dataclass
class Calendar:
    """Days, ISO weeks and months of the window, with the traffic weight of each day."""

    start: dt.date
    end: dt.date
    growth: float

    @property
    def n_days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def first_monday(self) -> dt.date:
        return self.start - dt.timedelta(days=self.start.weekday())

    def day_weight(self, i: int) -> float:
        """Share of all requests on day i: density exp(b t), t in [0, 1], integrated over the day."""
        b = math.log(self.growth)
        n = self.n_days
        if abs(b) < 1e-12:
            return 1.0 / n
        return (math.exp(b * (i + 1) / n) - math.exp(b * i / n)) / (math.exp(b) - 1)

    def week_index(self, day: dt.date) -> int:
        return (day - self.first_monday).days // 7

    def month_index(self, day: dt.date) -> int:
        return (day.year - self.start.year) * 12 + day.month - self.start.month

    @property
    def n_weeks(self) -> int:
        return self.week_index(self.end) + 1

    @property
    def n_months(self) -> int:
        return self.month_index(self.end) + 1

    def month_start(self, m: int) -> dt.date:
        y, mo = divmod(self.start.month - 1 + m, 12)
        return dt.date(self.start.year + y, mo + 1, 1)

    def week_frac(self, w: int) -> float:
        """Position of week w's middle in the window, 0 at the start and 1 at the end."""
        mid = self.first_monday + dt.timedelta(days=7 * w + 3)
        return min(1.0, max(0.0, (mid - self.start).days / max(1, self.n_days - 1)))

    def week_month(self, w: int) -> int:
        """The month of week w's middle (clipped to the window)."""
        mid = self.first_monday + dt.timedelta(days=7 * w + 3)
        return min(self.n_months - 1, self.month_index(max(self.start, mid)))

    def month_frac(self, m: int) -> float:
        mid = self.month_start(m) + dt.timedelta(days=14)
        return min(1.0, max(0.0, (mid - self.start).days / max(1, self.n_days - 1)))

    def week_weights(self) -> list[float]:
        weights = [0.0] * self.n_weeks
        for i in range(self.n_days):
            weights[self.week_index(self.start + i * DAY)] += self.day_weight(i)
        return weights

    def week_month_weights(self) -> dict[tuple[int, int], float]:
        """Share of requests on the days of (week, month): weeks can straddle months."""
        out: dict[tuple[int, int], float] = {}
        for i in range(self.n_days):
            day = self.start + i * DAY
            key = (self.week_index(day), self.month_index(day))
            out[key] = out.get(key, 0.0) + self.day_weight(i)
        return out


@dataclass
class ModelInfo:
    """What the plan needs of a catalog model."""

    model: str
    author: str
    release_date: dt.date | None
    open_weights: bool
    origin_country: str
    reasoning: bool
    supports_tools: bool
    price_prompt: float
    price_completion: float
    price_cache: float | None


@dataclass
class Plan:
    """Everything the column generator needs, as small tables."""

    calendar: Calendar
    models: dict[str, ModelInfo]
    family_of: dict[str, str]
    model_probs: list[dict[str, float]]              # per week: P(model) for a request
    token_shares: list[dict[str, float]]             # per week: planted token share
    category_probs: dict[tuple[str, int], dict[str, float]]   # (family, month) -> P(category)
    cohorts: dict[tuple[str, int], list[tuple[int, float, int]]]  # (model, month) -> [(cohort, weight, n_active)]
    price_steps: dict[str, list[float]] = field(default_factory=dict)  # per week: list price / catalog price
    usage: list[dict[str, tuple[float, float]]] = field(default_factory=list)  # per week: (tokens, spend) shares
    cross_exponent: float = 0.0                     # the calibrated exponent of the cross-sectional price factor
    expected: dict = field(default_factory=dict)


def family_map(families: dict[str, list[str]]) -> dict[str, str]:
    """author -> family name."""
    return {author: fam for fam, authors in families.items() for author in authors}


def prompt_mean(lengths: dict, category: str, frac: float) -> float:
    p = lengths["prompt_mean"]
    base = p["start"] * (p["end"] / p["start"]) ** frac
    return base * lengths.get("prompt_multiplier", {}).get(category, 1.0)


def completion_mean(lengths: dict, category: str, frac: float, reasoning: bool) -> float:
    c = lengths["completion_mean"]
    base = c["start"] * (c["end"] / c["start"]) ** frac
    mult = lengths.get("completion_multiplier", {}).get(category, 1.0)
    return base * mult * (lengths.get("reasoning_completion_multiplier", 1.0) if reasoning else 1.0)


def popularity(spec: list, info: ModelInfo, cal: Calendar, w: int) -> float:
    """A model's unnormalised token-share weight in week w (see conf/generator.yaml)."""
    _, weight, start, ramp_weeks, decay_from, half_life = (list(spec) + [None] * 6)[:6]
    start_day = _date(start) if start else (info.release_date or cal.start)
    start_day = max(start_day, cal.start)
    if start_day > cal.end:
        return 0.0
    w0 = cal.week_index(start_day)
    if w < w0:
        return 0.0
    value = float(weight) * min(1.0, (w - w0 + 1) / max(1.0, float(ramp_weeks or 1)))
    if decay_from and half_life:
        wd = cal.week_index(max(_date(decay_from), cal.start))
        if w > wd:
            value *= 0.5 ** ((w - wd) / float(half_life))
    return value


def blended_price(info: ModelInfo) -> float:
    """List price per 1M tokens for a 10:1 prompt:completion blend."""
    return (10 * info.price_prompt + info.price_completion) / 11


def price_steps(changes: list, cal: Calendar, models: dict[str, ModelInfo]) -> dict[str, list[float]]:
    """Per model with list-price changes: its list price over the catalog's, week by week.

    A change [model, date, factor] multiplies the model's prices (prompt, completion,
    cache read) by factor from the Monday of date's ISO week; the catalog holds the
    prices after the last change, so before a change the price is the catalog's
    divided by the factors still to come.
    """
    steps: dict[str, list[float]] = {}
    for model, day, factor in changes:
        if model not in models:
            raise ValueError(f"price change for {model}, which is not among the generator's models")
        if not float(factor) > 0:
            raise ValueError(f"price change factor must be above 0: {model} {day} {factor}")
        first = cal.week_index(_date(day))
        weeks = steps.setdefault(model, [1.0] * cal.n_weeks)
        for w in range(min(max(first, 0), cal.n_weeks)):
            weeks[w] /= float(factor)
    return steps


def cached_share(lengths: dict, category: str) -> float:
    """Expected cached share of a prompt where the model prices cache reads: min(1, 2 f u), u uniform."""
    cached = lengths.get("cached_fraction", {})
    a = 2.0 * float(cached.get(category, cached.get("default", 0.0)))
    return a / 2 if a <= 1 else 1 - 1 / (2 * a)


def request_means(lengths: dict, cal: Calendar, models: dict[str, ModelInfo], family: dict[str, str],
                  category_probs: dict) -> list[dict[str, tuple[float, float]]]:
    """Per week and model: a request's expected tokens and its expected spend at catalog prices
    (the family's task mix, the lengths, the cached share of prompts)."""
    out = []
    for w in range(cal.n_weeks):
        frac, mo = cal.week_frac(w), cal.week_month(w)
        week = {}
        for m, info in models.items():
            tokens = spend = 0.0
            for c, p in category_probs[(family[m], mo)].items():
                pr, co = prompt_mean(lengths, c, frac), completion_mean(lengths, c, frac, info.reasoning)
                k = cached_share(lengths, c) if info.price_cache is not None else 0.0
                tokens += p * (pr + co)
                spend += p * (pr * (1 - k) * info.price_prompt + pr * k * (info.price_cache or 0.0)
                              + co * info.price_completion) / 1e6
            week[m] = (tokens, spend)
        out.append(week)
    return out


def slope(x: list[float], y: list[float]) -> float:
    """The ordinary least squares slope of y on x."""
    mx, my = sum(x) / len(x), sum(y) / len(y)
    return sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True)) / sum((a - mx) ** 2 for a in x)


def cross_section_slope(usage: list[dict[str, tuple[float, float]]]) -> float | None:
    """The slope of log tokens on log effective cost across models, over the window, from expected usage."""
    tokens: dict[str, float] = {}
    spend: dict[str, float] = {}
    for week in usage:
        for m, (t, s) in week.items():
            tokens[m], spend[m] = tokens.get(m, 0.0) + t, spend.get(m, 0.0) + s
    priced = [m for m in tokens if tokens[m] > 0 and spend[m] > 0]
    if len(priced) < 3:
        return None
    return slope([math.log(spend[m] / tokens[m]) for m in priced], [math.log(tokens[m]) for m in priced])


def retention_curve(acc: dict, k: int) -> float:
    """Default activity retention at months_since = k."""
    if k == 0:
        return 1.0
    r = acc["retention"]
    return r["floor"] + (r["month1"] - r["floor"]) * 0.5 ** ((k - 1) / r["half_life_months"])


def build_plan(params: dict, catalog: dict[str, ModelInfo], n_requests: int) -> Plan:
    """Compute the plan for n_requests from the generator parameters and the catalog."""
    cal = Calendar(_date(params["window"]["start"]), _date(params["window"]["end"]), float(params["traffic_growth"]))
    specs = {s[0]: s for s in params["models"]}
    missing = [m for m in specs if m not in catalog]
    if missing:
        raise ValueError(f"generator models missing from the catalog: {', '.join(missing)}")
    models = {m: catalog[m] for m in specs}
    fam_of = family_map(params["families"])
    family = {m: fam_of.get(info.author, "default") for m, info in models.items()}
    cats = sorted({c for mixes in params["task_mix"].values() for part in mixes.values() for c in part})
    category_probs = {
        (fam, mo): mix(t["early"], t["late"], cal.month_frac(mo))
        for fam, t in params["task_mix"].items() for mo in range(cal.n_months)
    }
    steps = price_steps(params.get("price_changes", []), cal, models)
    means = request_means(params["lengths"], cal, models, family, category_probs)
    response = params.get("price_response", {})
    appeal = {m: [popularity(specs[m], models[m], cal, w) for w in range(cal.n_weeks)] for m in models}
    exponent, (model_probs, token_shares, usage) = calibrated_usage(
        cal, models, appeal, means, steps, float(response.get("within_model", 0.0)),
        response.get("cross_section"))
    cohorts = account_cohorts(params["accounts"], cal, models, model_probs, n_requests)
    plan = Plan(cal, models, family, model_probs, token_shares, category_probs, cohorts, steps, usage, exponent)
    plan.expected = expected_figures(plan, params, cats)
    return plan


def weekly_usage(cal: Calendar, models: dict[str, ModelInfo], appeal: dict[str, list[float]],
                 means: list[dict[str, tuple[float, float]]], steps: dict[str, list[float]], within: float,
                 exponent: float) -> tuple[list[dict], list[dict], list[dict]]:
    """Per week: each model's share of requests, of tokens, and its (tokens, spend) share of the
    window's requests. A token share is appeal (popularity) x (blended price / median) **
    exponent x (list price / catalog price) ** within, normalised over the week; a request's
    expected tokens turn token shares into request shares."""
    prices = sorted(blended_price(i) for i in models.values())
    median_price = prices[len(prices) // 2]
    cross = {m: (blended_price(i) / median_price) ** exponent if blended_price(i) > 0 else 1.0
             for m, i in models.items()}
    week_weights = cal.week_weights()
    model_probs, token_shares, usage = [], [], []
    for w in range(cal.n_weeks):
        step = {m: steps[m][w] if m in steps else 1.0 for m in models}
        shares = normalised({m: appeal[m][w] * cross[m] * step[m] ** within for m in models})
        if not shares:
            raise ValueError(f"no model is active in the week of {cal.first_monday + dt.timedelta(days=7 * w)}: "
                             "every week of the window needs one (see the models' start dates)")
        per_request = {m: s / means[w][m][0] for m, s in shares.items()}
        tokens_per_request = 1.0 / sum(per_request.values()) if per_request else 0.0
        token_shares.append(shares)
        model_probs.append(normalised(per_request))
        usage.append({m: (week_weights[w] * tokens_per_request * s,
                          week_weights[w] * tokens_per_request * s * means[w][m][1] / means[w][m][0] * step[m])
                      for m, s in shares.items()})
    return model_probs, token_shares, usage


def calibrated_usage(cal: Calendar, models: dict[str, ModelInfo], appeal: dict[str, list[float]],
                     means: list, steps: dict[str, list[float]], within: float,
                     target: float | None) -> tuple[float, tuple[list[dict], list[dict], list[dict]]]:
    """The cross-sectional exponent that puts the expected slope of log tokens on log effective
    cost across models at `target` (secant steps; the slope moves about one for one with the
    exponent), and the weekly usage it gives. No target: exponent 0, appeal alone."""
    def run(e: float) -> tuple[tuple[list[dict], list[dict], list[dict]], float | None]:
        usage = weekly_usage(cal, models, appeal, means, steps, within, e)
        slope_now = cross_section_slope(usage[2])
        return usage, None if slope_now is None else slope_now - float(target)

    base = weekly_usage(cal, models, appeal, means, steps, within, 0.0)
    if target is None or cross_section_slope(base[2]) is None:
        return 0.0, base
    e0, e1 = 0.0, float(target)
    g0 = cross_section_slope(base[2]) - float(target)
    usage, g1 = run(e1)
    for _ in range(30):
        if abs(g1) < 1e-7:
            return e1, usage
        e0, e1, g0 = e1, e1 - g1 * (e1 - e0) / (g1 - g0), g1
        usage, g1 = run(e1)
    raise ValueError(f"price_response.cross_section {target}: no exponent reaches that slope")


def account_cohorts(acc: dict, cal: Calendar, models: dict[str, ModelInfo], model_probs: list[dict],
                    n_requests: int) -> dict[tuple[str, int], list[tuple[int, float, int]]]:
    """Per (model, month): the cohorts (month of first use) that supply its active accounts,
    as (cohort month, weight, accounts). Expected requests per model and month, divided by
    the requests an account sends, set how many accounts are needed; the earlier cohorts,
    retained along their curve (a planted cohort along its own), supply what they can and
    a new cohort the rest."""
    lam = float(acc["requests_per_account_month"])
    lam_min = float(acc.get("min_requests_per_account_month", lam / 2))
    special = {(s["model"], s["cohort"]): s["curve"] for s in acc.get("special_cohorts", [])}
    requests: dict[tuple[str, int], float] = {}
    for (w, mo), weight in cal.week_month_weights().items():
        for m, p in model_probs[w].items():
            requests[(m, mo)] = requests.get((m, mo), 0.0) + n_requests * weight * p
    cohorts: dict[tuple[str, int], list[tuple[int, float, int]]] = {}
    for m in models:
        sizes: dict[int, float] = {}
        for mo in range(cal.n_months):
            demand = requests.get((m, mo), 0.0)
            if demand <= 0:
                continue
            label = cal.month_start(mo).strftime("%Y-%m")

            def curve(c, k, m=m):
                key = (m, cal.month_start(c).strftime("%Y-%m"))
                if key in special:
                    pts = special[key]
                    return pts[k] if k < len(pts) else pts[-1] * retention_curve(acc, k) / retention_curve(acc, len(pts) - 1)
                return retention_curve(acc, k)

            supply = {c: s * curve(c, mo - c) for c, s in sizes.items()}
            need = demand / lam
            new = max(0.0, need - sum(supply.values()))
            if (m, label) in special:
                new = max(new, need * 0.5)  # a planted cohort is a real share of its month
            sizes[mo] = new
            supply[mo] = new
            active = sum(supply.values())
            # Declining demand: shrink every cohort alike so accounts keep >= lam_min requests.
            scale = min(1.0, demand / (lam_min * active)) if active > 0 else 1.0
            cells = []
            for c, n in sorted(supply.items()):
                n_active = int(round(n * scale))
                if n_active >= 1:
                    cells.append((c, float(n_active), n_active))
            if not cells:  # a sliver of demand still needs an account to send it
                cells = [(mo, 1.0, 1)]
            cohorts[(m, mo)] = cells
    return cohorts


def _mean(values: list[float]) -> float | None:
    """The mean, or None for a window too short to have the weeks a figure averages."""
    return sum(values) / len(values) if values else None


def expected_figures(plan: Plan, params: dict, categories: list[str]) -> dict:
    """Study figures implied by the plan (token-weighted, before sampling noise)."""
    cal, lengths = plan.calendar, params["lengths"]
    week_weights = cal.week_weights()
    seg_weekly, prog_weekly, reasoning_weekly, prompt_weekly, completion_weekly = [], [], [], [], []
    oss_cat: dict[str, float] = {}
    for w in range(cal.n_weeks):
        frac = cal.week_frac(w)
        mo = cal.week_month(w)
        seg = {"closed": 0.0, "oss_china": 0.0, "oss_row": 0.0}
        cat_tokens: dict[str, float] = {}
        reasoning = total = req_prompt = req_completion = 0.0
        for m, p in plan.model_probs[w].items():
            info = plan.models[m]
            s = "closed" if not info.open_weights else ("oss_china" if info.origin_country in ("CN", "HK", "TW") else "oss_row")
            for c, pc in plan.category_probs[(plan.family_of[m], mo)].items():
                pr = prompt_mean(lengths, c, frac)
                co = completion_mean(lengths, c, frac, info.reasoning)
                tok = p * pc * (pr + co)
                seg[s] += tok
                cat_tokens[c] = cat_tokens.get(c, 0.0) + tok
                total += tok
                reasoning += tok if info.reasoning else 0.0
                req_prompt += p * pc * pr
                req_completion += p * pc * co
                if s != "closed":
                    oss_cat[c] = oss_cat.get(c, 0.0) + tok * week_weights[w]
        seg_weekly.append({k: v / total for k, v in seg.items()})
        prog_weekly.append(cat_tokens.get("Programming", 0.0) / total)
        reasoning_weekly.append(reasoning / total)
        prompt_weekly.append(req_prompt)
        completion_weekly.append(req_completion)
    oss_total = sum(oss_cat.values())
    later = seg_weekly[1:]  # the first week is partial
    return {
        "closed_avg": _mean([s["closed"] for s in later]),
        "oss_china_avg": _mean([s["oss_china"] for s in later]),
        "oss_row_avg": _mean([s["oss_row"] for s in later]),
        "oss_last4": _mean([1 - s["closed"] for s in seg_weekly[-4:]]),
        "oss_china_min": min((s["oss_china"] for s in later), default=None),
        "oss_china_max": max((s["oss_china"] for s in later), default=None),
        "programming_first8": _mean(prog_weekly[1:9]),
        "programming_last4": _mean(prog_weekly[-4:]),
        "reasoning_last4": _mean(reasoning_weekly[-4:]),
        "reasoning_first4": _mean(reasoning_weekly[1:5]),
        "prompt_first4": _mean(prompt_weekly[1:5]),
        "prompt_last4": _mean(prompt_weekly[-4:]),
        "completion_first4": _mean(completion_weekly[1:5]),
        "completion_last4": _mean(completion_weekly[-4:]),
        "roleplay_share_of_oss": oss_cat.get("Roleplay", 0.0) / oss_total if oss_total else 0.0,
        "cross_section_slope": cross_section_slope(plan.usage),
    }


def alias_table(probs: dict, n_slots: int | None = None) -> list[tuple[int, float, object, object]]:
    """Walker's alias table (Vose's construction) for exact O(1) sampling.

    Returns n_slots rows (slot, threshold, primary, alias): draw slot uniformly,
    then take primary when a second uniform is below threshold, else alias. Padding
    slots (n_slots larger than the outcomes) get zero probability.
    """
    items = [(v, p) for v, p in normalised(probs).items()]
    n = n_slots or len(items)
    if len(items) > n:
        raise ValueError("more outcomes than slots")
    filler = items[0][0]
    items += [(filler, 0.0)] * (n - len(items))
    scaled = [p * n for _, p in items]
    values = [v for v, _ in items]
    small = [i for i, q in enumerate(scaled) if q < 1.0]
    large = [i for i, q in enumerate(scaled) if q >= 1.0]
    threshold = [1.0] * n
    alias = list(range(n))
    while small and large:
        s, g = small.pop(), large.pop()
        threshold[s], alias[s] = scaled[s], g
        scaled[g] = scaled[g] + scaled[s] - 1.0
        (small if scaled[g] < 1.0 else large).append(g)
    for i in small + large:  # rounding leftovers are certain
        threshold[i] = 1.0
    return [(i, threshold[i], values[i], values[alias[i]]) for i in range(n)]
