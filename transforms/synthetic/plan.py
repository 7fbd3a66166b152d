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
    model_probs, token_shares = weekly_model_probs(params, cal, specs, models, family, category_probs)
    cohorts = account_cohorts(params["accounts"], cal, models, model_probs, n_requests)
    plan = Plan(cal, models, family, model_probs, token_shares, category_probs, cohorts)
    plan.expected = expected_figures(plan, params, cats)
    return plan


def weekly_model_probs(params: dict, cal: Calendar, specs: dict, models: dict[str, ModelInfo],
                       family: dict[str, str], category_probs: dict) -> tuple[list[dict], list[dict]]:
    """Per week: each model's share of requests and its share of tokens. Token shares come
    from appeal (popularity) times the price response; a request's expected tokens (its
    family's task mix and the lengths) turn them into request shares."""
    lengths = params["lengths"]
    prices = sorted(blended_price(i) for i in models.values())
    median_price = prices[len(prices) // 2]
    elasticity = float(params.get("price_elasticity", 0.0))
    price_factor = {m: (blended_price(i) / median_price) ** elasticity if blended_price(i) > 0 else 1.0
                    for m, i in models.items()}
    model_probs, token_shares = [], []
    for w in range(cal.n_weeks):
        weights = {m: popularity(specs[m], models[m], cal, w) * price_factor[m] for m in models}
        shares = normalised(weights)
        token_shares.append(shares)
        frac = cal.week_frac(w)
        mo = min(cal.n_months - 1, cal.month_index(max(cal.start, cal.first_monday + dt.timedelta(days=7 * w + 3))))
        per_request = {}
        for m, s in shares.items():
            cp = category_probs[(family[m], mo)]
            tokens = sum(p * (prompt_mean(lengths, c, frac) + completion_mean(lengths, c, frac, models[m].reasoning))
                         for c, p in cp.items())
            per_request[m] = s / tokens
        model_probs.append(normalised(per_request))
    return model_probs, token_shares


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
    seg_weekly, prog_weekly, reasoning_weekly, prompt_weekly, completion_weekly = [], [], [], [], []
    oss_cat: dict[str, float] = {}
    for w in range(cal.n_weeks):
        frac = cal.week_frac(w)
        mo = min(cal.n_months - 1, cal.month_index(max(cal.start, cal.first_monday + dt.timedelta(days=7 * w + 3))))
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
                    oss_cat[c] = oss_cat.get(c, 0.0) + tok * plan.calendar.week_weights()[w]
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
