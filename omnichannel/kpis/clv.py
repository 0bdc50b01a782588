"""Customer lifetime value: historic (net revenue to date) and predicted for the next 12 months
by a BG/NBD purchase model and a Gamma-Gamma spend model, fitted nightly with pymc-marketing
(maximum likelihood: flat priors and MAP, so the parameters are the classic estimates of Fader,
Hardie & Lee 2005 and Fader & Hardie 2013).

Per member, from MemberStats (no order is read): frequency = repeat purchases (orders − 1),
recency = weeks from the first to the last purchase, T = weeks from the first purchase to the
run, monetary = average net order value. The fit may take a sample (every k-th buyer by id, at
most FIT_SAMPLE); the prediction is for every buyer, a chunk of ids at a time, written set-wise
into ClvPrediction; then the page's summaries (by acquisition channel, by first-purchase month,
the RFM grid) are aggregated into MemberValueSummary, so the page reads a few dozen rows.

pymc-marketing is imported inside the functions: it takes seconds to import and only the
nightly job and its command need it.
"""

import logging
import math
import warnings
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from crm.bulk import rows_copy, uses_copy
from crm.models import MemberStats
from omnichannel.kpis.bulk import table_empty
from omnichannel.kpis.models import (
    ClvModelRun,
    ClvPrediction,
    MemberValueSummary,
    RollupWatermark,
)
from omnichannel.kpis.rollups_members import cohort_month_sql

logger = logging.getLogger(__name__)

FIT_SAMPLE = 50_000  # members the models are fitted on, at most
PREDICT_CHUNK = 100_000  # members predicted per step
HORIZON_WEEKS = 52  # the next 12 months
WEEK_SECONDS = 7 * 24 * 3600
PREDICTION_COLUMNS = (
    "member_id",
    "run_id",
    "predicted_purchases_12m",
    "predicted_clv_12m_twd",
    "probability_alive",
)


@dataclass(frozen=True)
class ClvParams:
    """BG/NBD (r, alpha, a, b) and Gamma-Gamma (p, q, v) parameters."""

    r: float
    alpha: float
    a: float
    b: float
    p: float
    q: float
    v: float

    def as_json(self, library: str) -> dict:
        return {
            "bgnbd": {"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b},
            "gamma_gamma": {"p": self.p, "q": self.q, "v": self.v},
            "library": library,
        }


def _quiet():
    """pymc and arviz announce their future on import and per fit: not our log's business."""
    context = warnings.catch_warnings()
    context.__enter__()
    warnings.simplefilter("ignore")
    return context


def clv_fit(frame) -> ClvParams:
    """Fit both models on a frame of customer_id, frequency, recency, T (weeks) and
    monetary_value. Raises ValueError when there are no repeat buyers to fit the spend on."""
    context = _quiet()
    try:
        from pymc_extras.prior import Prior
        from pymc_marketing.clv import BetaGeoModel, GammaGammaModel

        flat = {name: Prior("HalfFlat") for name in ("r", "alpha", "a", "b")}
        purchases = BetaGeoModel(
            data=frame[["customer_id", "frequency", "recency", "T"]], model_config=flat
        )
        purchases.fit(method="map", progressbar=False)
        repeat = frame[(frame["frequency"] > 0) & (frame["monetary_value"] > 0)]
        if repeat.empty:
            raise ValueError("no repeat buyers with a positive spend to fit the spend model on")
        spend = GammaGammaModel(
            data=repeat[["customer_id", "frequency", "monetary_value"]],
            model_config={name: Prior("HalfFlat") for name in ("p", "q", "v")},
        )
        spend.fit(method="map", progressbar=False)
        fitted = {**purchases.fit_summary().to_dict(), **spend.fit_summary().to_dict()}
    finally:
        context.__exit__(None, None, None)
    return ClvParams(
        **{name: float(fitted[name]) for name in ("r", "alpha", "a", "b", "p", "q", "v")}
    )


def _models(params: ClvParams, frame):
    """The two models with the fitted parameters as their (single-draw) posterior."""
    import arviz as az
    import numpy as np
    from pymc_marketing.clv import BetaGeoModel, GammaGammaModel

    def posterior(values: dict) -> "az.InferenceData":
        return az.from_dict(posterior={name: np.array([[value]]) for name, value in values.items()})

    purchases = BetaGeoModel(data=frame[["customer_id", "frequency", "recency", "T"]])
    purchases.build_model()  # the graph only (coordinates); nothing is compiled or sampled
    purchases.idata = posterior(
        {"r": params.r, "alpha": params.alpha, "a": params.a, "b": params.b}
    )
    spend = GammaGammaModel(data=frame[["customer_id", "frequency", "monetary_value"]])
    spend.build_model()
    spend.idata = posterior({"p": params.p, "q": params.q, "v": params.v})
    return purchases, spend


def clv_predict(params: ClvParams, frame, *, weeks: int = HORIZON_WEEKS):
    """Per row of the frame: expected purchases in the next `weeks`, the probability the
    member is still a customer, and the expected value (purchases × expected average order,
    undiscounted, NT$). Returns three numpy arrays in the frame's order."""
    import numpy as np

    context = _quiet()
    try:
        for_spend = frame.copy()
        # A member without repeat purchases (or with a net spend ≤ 0) gets the population's
        # expected average order: Gamma-Gamma with frequency 0.
        no_spend = (for_spend["frequency"] <= 0) | (for_spend["monetary_value"] <= 0)
        for_spend.loc[no_spend, "frequency"] = 0
        for_spend.loc[no_spend, "monetary_value"] = 0.0
        purchases_model, spend_model = _models(params, for_spend)
        purchases = purchases_model.expected_purchases(data=frame, future_t=weeks)
        alive = purchases_model.expected_probability_alive(data=frame)
        spend = spend_model.expected_customer_spend(data=for_spend)
    finally:
        context.__exit__(None, None, None)

    def flat(array) -> "np.ndarray":
        return np.asarray(array.mean(("chain", "draw")).values, dtype=float)

    purchases, alive, spend = flat(purchases), flat(alive), flat(spend)
    return purchases, alive, purchases * spend


def _buyers(as_of: datetime):
    """MemberStats of buyers (a first purchase before as_of), ordered by id."""
    return MemberStats.objects.filter(
        first_purchase_at__isnull=False, first_purchase_at__lte=as_of, orders_count__gt=0
    ).order_by("member_id")


def _frame(rows, as_of: datetime):
    """customer_id, frequency, recency, T (weeks), monetary_value from MemberStats rows of
    (member_id, orders_count, total_spend_twd, first_purchase_at, last_purchase_at)."""
    import pandas as pd

    records = []
    for member_id, orders, spend, first, last in rows:
        records.append(
            (
                member_id,
                orders - 1,
                max((last - first).total_seconds(), 0) / WEEK_SECONDS,
                max((as_of - first).total_seconds(), 0) / WEEK_SECONDS,
                spend / orders,
            )
        )
    return pd.DataFrame.from_records(
        records, columns=["customer_id", "frequency", "recency", "T", "monetary_value"]
    )


FIELDS = ("member_id", "orders_count", "total_spend_twd", "first_purchase_at", "last_purchase_at")


def _sample(as_of: datetime, limit: int):
    buyers = _buyers(as_of)
    total = buyers.count()
    step = max(math.ceil(total / limit), 1)
    if step > 1:
        # Every step-th buyer by id: a spread sample the database picks without sorting.
        buyers = buyers.annotate(slot=F("member_id") % step).filter(slot=0)
    return _frame(buyers.values_list(*FIELDS)[:limit], as_of)


def _predictions_write(run: ClvModelRun, params: ClvParams, as_of: datetime) -> int:
    table_empty(ClvPrediction)
    written, after = 0, 0
    buyers = _buyers(as_of)
    while True:
        rows = list(buyers.filter(member_id__gt=after).values_list(*FIELDS)[:PREDICT_CHUNK])
        if not rows:
            return written
        after = rows[-1][0]
        frame = _frame(rows, as_of)
        purchases, alive, value = clv_predict(params, frame)
        records = [
            (int(member_id), run.pk, float(n), round(float(v)), float(p))
            for member_id, n, v, p in zip(
                frame["customer_id"], purchases, value, alive, strict=True
            )
        ]
        if uses_copy():
            rows_copy(ClvPrediction._meta.db_table, PREDICTION_COLUMNS, records)
        else:
            ClvPrediction.objects.bulk_create(
                [ClvPrediction(**dict(zip(PREDICTION_COLUMNS, r, strict=True))) for r in records],
                batch_size=5_000,
            )
        written += len(records)


def _summary_sql(key: str, where: str = "") -> str:
    return f"""
SELECT {key} AS key, COUNT(*), SUM(CASE WHEN s.orders_count > 0 THEN 1 ELSE 0 END),
       COALESCE(SUM(s.total_spend_twd), 0), COALESCE(SUM(s.spend_365d_twd), 0),
       COALESCE(SUM(p.predicted_purchases_12m), 0), COALESCE(SUM(p.predicted_clv_12m_twd), 0)
FROM crm_memberstats s
JOIN crm_member m ON m.id = s.member_id
LEFT JOIN kpis_clvprediction p ON p.member_id = s.member_id
{("WHERE " + where) if where else ""}
GROUP BY 1"""  # noqa: S608 (only our SQL is formatted in)


def _key(dimension: str, value) -> str:
    if dimension == MemberValueSummary.Dimension.COHORT:
        return str(value)[:7]  # YYYY-MM of the month's first day
    if dimension == MemberValueSummary.Dimension.RFM:
        return f"{int(value) // 10}-{int(value) % 10}"
    return "" if value is None else str(value)


def summaries_write(run: ClvModelRun) -> int:
    """The page's value figures per acquisition channel, first-purchase month and RFM cell,
    from MemberStats (active members) and the predictions just written."""
    Dimension = MemberValueSummary.Dimension
    groups = (
        (Dimension.ACQUISITION, ("m.acquisition_channel", []), ""),
        (
            Dimension.COHORT,
            cohort_month_sql("s.first_purchase_at"),
            "s.first_purchase_at IS NOT NULL",
        ),
        (
            Dimension.RFM,
            ("s.rfm_recency * 10 + s.rfm_frequency", []),  # 53: R 5, F 3
            "s.rfm_recency IS NOT NULL AND s.rfm_frequency IS NOT NULL",
        ),
    )
    summaries = []
    with connection.cursor() as cursor:
        for dimension, (key, params), where in groups:
            cursor.execute(_summary_sql(key, where), params)
            for value, members, buyers, revenue, revenue_365d, purchases, clv in cursor.fetchall():
                summaries.append(
                    MemberValueSummary(
                        run_id=run.pk,
                        dimension=dimension,
                        key=_key(dimension, value),
                        members=members,
                        buyers=buyers,
                        revenue_twd=revenue,
                        revenue_365d_twd=revenue_365d,
                        predicted_purchases_12m=float(purchases),
                        predicted_clv_12m_twd=int(clv),
                    )
                )
    MemberValueSummary.objects.bulk_create(summaries)
    return len(summaries)


def _library() -> str:
    from importlib.metadata import version

    return f"pymc-marketing {version('pymc-marketing')}"


LOCK_NAME = "kpis.clv"


def clv_models_refresh(
    *,
    as_of: datetime | None = None,
    sample: int = FIT_SAMPLE,
    params: ClvParams | None = None,
) -> ClvModelRun | None:
    """Fit the models on (a sample of) the buyers as of now, predict every buyer's next 12
    months, and aggregate the page's summaries. The run is recorded, done or failed; None
    when another run holds the lock (a second beat process: it steps aside). Safe to run
    twice (a run replaces the predictions and the summaries). `params`: predict with these
    instead of fitting (a fit done elsewhere, a test's known parameters). Raises what the fit raised
    (ValueError: nobody has bought yet) after recording it."""
    as_of = as_of or timezone.now()
    RollupWatermark.objects.get_or_create(name=LOCK_NAME)
    with transaction.atomic():
        # The lock row is held for the run: a second run skips rather than waits.
        lock = (
            RollupWatermark.objects.select_for_update(skip_locked=True)
            .filter(name=LOCK_NAME)
            .first()
        )
        if lock is None:
            return None
        run = ClvModelRun.objects.create(as_of=as_of)
        try:
            with transaction.atomic():
                frame = _sample(as_of, sample)
                if frame.empty:
                    raise ValueError("no member has bought yet")
                params = params or clv_fit(frame)
                run.members_predicted = _predictions_write(run, params, as_of)
                summaries_write(run)
                # Older runs' summaries go: the page reads the last good run.
                MemberValueSummary.objects.exclude(run_id=run.pk).delete()
        except Exception as error:
            run.status, run.error = ClvModelRun.Status.FAILED, f"{type(error).__name__}: {error}"
            failure = error
        else:
            run.members_fitted = len(frame)
            run.params = params.as_json(_library())
            run.status, failure = ClvModelRun.Status.DONE, None
        run.finished_at = timezone.now()
        run.save()
    if failure is not None:
        logger.error("customer value fit failed: %s", run.error)
        raise failure
    logger.info("customer value fit done: %s", run.params)
    return run
